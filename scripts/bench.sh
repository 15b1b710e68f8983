#!/usr/bin/env bash
# Reproduces experiments/bench: speed against this machine's roof, measured live (tiny model and
# SmolLM2-135M), and each method's cost against retraining, read from the published
# experiments/quick/results.json and experiments/smollm2/results.json (run scripts/quick.sh and
# scripts/smollm2.sh first to measure those anew). Same as `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
UNLEARN=${UNLEARN:-unlearn}  # or .venv/bin/unlearn after `make setup`

$UNLEARN bench --quick experiments/quick/results.json --smollm2 experiments/smollm2/results.json --out experiments/bench
