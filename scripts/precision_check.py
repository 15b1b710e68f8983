"""Training speed, peak memory and losses of SmolLM2-135M under fp32, bf16 autocast and gradient
checkpointing: a few steps of the training loop on this machine, each setting in its own process
(so each peak RSS is its own). Offline; ~2 min on 2 CPU cores.

    python scripts/precision_check.py [--steps 6] [--batch 8] [--length 128]

Compare the settings within one invocation only (the machine's load changes between runs).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = (("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True))


def one(precision: str, checkpointing: bool, steps: int, batch: int, length: int, base: Path) -> dict:
    from unlearn.config import TrainConfig
    from unlearn.data import encode
    from unlearn.losses import forward_logits, sequence_nll
    from unlearn.models import load_model
    from unlearn.train import make_accelerator, train

    model, tok = load_model(base)
    texts = [f"User {i} (@u{i}): I live in Berlin and my phone number is 0170 {i:07d}. " * 4 for i in range(8 * batch)]
    data = encode(tok, texts, length)

    def loss(m, ref, b):
        return sequence_nll(forward_logits(m, b["train"]), b["train"]["labels"]).mean(), {}

    recipe = TrainConfig(lr=1e-5, max_steps=steps, batch_size=batch, warmup_ratio=0.0, schedule="constant")
    acc = make_accelerator(precision=precision, gradient_checkpointing=checkpointing)
    start = time.perf_counter()
    result = train(model, {"train": data}, "train", loss, recipe, 0, acc, desc=precision)
    wall = time.perf_counter() - start
    return {"precision": precision, "gradient_checkpointing": checkpointing, "s_per_step": wall / steps,
            "losses": [e["loss"] for e in result.log], "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--one", nargs=2, metavar=("PRECISION", "CHECKPOINTING"), help=argparse.SUPPRESS)
    parser.add_argument("--base", default="runs/precision-check/base", help="where the SmolLM2 base model is written once")
    args = parser.parse_args()
    base = Path(args.base)
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1] == "1", args.steps, args.batch, args.length, base)))
        return
    if not (base / "config.json").is_file():
        from unlearn.config import load_config
        from unlearn.models import build_base

        build_base(load_config("configs/experiments/smollm2.yaml"), 0, base)
    rows = []
    for precision, checkpointing in SETTINGS:
        out = subprocess.run([sys.executable, __file__, "--one", precision, str(int(checkpointing)), "--steps",
                              str(args.steps), "--batch", str(args.batch), "--length", str(args.length), "--base",
                              str(base)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    plain = rows[0]
    print(f"SmolLM2-135M, {args.steps} steps of batch {args.batch} x {args.length} tokens")
    print(f"{'precision':<10}{'checkpointing':>14}{'s/step':>9}{'x fp32':>8}{'peak MiB':>10}{'last loss':>11}{'max |loss - fp32|':>19}")
    for r in rows:
        gap = max(abs(a - b) for a, b in zip(r["losses"], plain["losses"]))
        print(f"{r['precision']:<10}{str(r['gradient_checkpointing']):>14}{r['s_per_step']:>9.2f}"
              f"{r['s_per_step'] / plain['s_per_step']:>8.2f}{r['peak_rss_mib']:>10.0f}{r['losses'][-1]:>11.4f}{gap:>19.4f}")


if __name__ == "__main__":
    main()
