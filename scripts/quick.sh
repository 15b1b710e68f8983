#!/usr/bin/env bash
# Reproduces experiments/quick: the tiny model on the synthetic network, seeds 0-2 (about 25 min of
# compute on 2 CPU cores; a rerun into the same folder reuses every finished stage).
set -euo pipefail
cd "$(dirname "$0")/.."
UNLEARN=${UNLEARN:-unlearn}  # or .venv/bin/unlearn after `make setup`

$UNLEARN run configs/experiments/quick.yaml 'seeds=[0,1,2]' --out runs/quick-v3
$UNLEARN report runs/quick-v3 --publish experiments/quick
