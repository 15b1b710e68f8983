#!/usr/bin/env bash
# Reproduces experiments/quick/frontier: the quick experiment with the removal frontier (every
# method at growing strength, judged at each point), seeds 0-2 (about 2 h of compute on 2 CPU cores).
set -euo pipefail
cd "$(dirname "$0")/.."
UNLEARN=${UNLEARN:-unlearn}  # or .venv/bin/unlearn after `make setup`

$UNLEARN run configs/experiments/quick.yaml 'seeds=[0,1,2]' frontier.enabled=true --out runs/quick-frontier
$UNLEARN report runs/quick-frontier --publish experiments/quick/frontier
