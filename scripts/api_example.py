"""The Python API end to end, offline, on a tiny model (under a minute on 2 CPU cores):

1. a small synthetic social network (configs/experiments/smoke.yaml's corpus, fewer users);
2. a tiny Llama-style model fine-tuned on every member's texts (the original), and three retrain
   replicates fine-tuned the same way without the objecting users' texts (the reference);
3. `unlearn.unlearn(...)` applies NPO to a copy of the original with the objectors' texts;
4. `unlearn.evaluate(...)` measures all of them on forget / retain / holdout texts and judges the
   NPO model and a fourth retrain replicate (the null control: a model that truly never saw the
   texts) against the reference, with the pipeline's verdict.

    python scripts/api_example.py [--method npo] [key=value ...]    e.g. lr=1e-4 epochs=4 beta=0.2

A model of your own works the same way: any Hugging Face causal LM and its tokenizer.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import torch  # noqa: E402
import yaml  # noqa: E402

import unlearn  # noqa: E402
from unlearn.config import load_config  # noqa: E402
from unlearn.corpus import build_corpus  # noqa: E402
from unlearn.data import encode  # noqa: E402
from unlearn.losses import batch_nll  # noqa: E402
from unlearn.models import build_base, load_model  # noqa: E402
from unlearn.train import make_accelerator, train  # noqa: E402

# smoke.yaml's tiny model and corpus, smaller and shorter so that five fine-tunings fit in seconds
OVERRIDES = ["model.pretrain_users=0", "data.n_users=20", "finetune.epochs=6", "finetune.batch_size=32",
             "finetune.lr=3e-3", "eval.bootstrap=200"]
REPLICATES = 3  # retrain models in the reference (two is the least a verdict needs; three give it power)


def nll_loss(model, ref_model, batch):
    """Plain language-model fine-tuning (the pipeline's fine-tuning loss)."""
    return batch_nll(model, batch["train"]), {}


def finetune(base_dir: Path, texts: list[str], cfg, seed: int, acc):
    """The base model fine-tuned on `texts` with the config's fine-tuning recipe."""
    model, tok = load_model(base_dir)
    result = train(model, {"train": encode(tok, texts, cfg.model.max_length)}, "train", nll_loss, cfg.finetune,
                   seed, acc, desc=f"fine-tune (seed {seed})")
    if result.status != "ok":
        raise SystemExit(f"fine-tuning failed: {result.message}")
    return model.eval(), tok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="npo", help="unlearning method (default npo)")
    parser.add_argument("params", nargs="*", metavar="key=value",
                        help="the method's training settings and knobs (default: configs/methods/<method>.yaml)")
    args = parser.parse_args()
    params = {k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in args.params)}
    start = time.perf_counter()
    torch.set_num_threads(1)  # the tiny model's matrices are too small to share out; a busy machine stays fast
    cfg = load_config(ROOT / "configs" / "experiments" / "smoke.yaml", OVERRIDES)
    corpus = build_corpus(cfg.data, seed=0)
    texts = {split: list(corpus.texts[split]["text"]) for split in ("train", "retain", "forget", "holdout")}
    print(f"corpus: {len(texts['train'])} member texts, {len(texts['forget'])} of them by the objecting users, "
          f"{len(texts['holdout'])} holdout texts")

    with tempfile.TemporaryDirectory() as tmp:
        base_dir = Path(tmp) / "base"
        build_base(cfg, 0, base_dir)  # a BPE tokenizer and a seeded random initialisation
        acc = make_accelerator()
        original, tok = finetune(base_dir, texts["train"], cfg, 0, acc)
        retrains = [finetune(base_dir, texts["retain"], cfg, 1 + r, acc)[0] for r in range(REPLICATES + 1)]
        print(f"fine-tuned the original and {REPLICATES + 1} retrain replicates ({time.perf_counter() - start:.0f} s)")

        unlearned = unlearn.unlearn(copy.deepcopy(original), tok, texts["forget"], texts["retain"], method=args.method,
                                    **params)

        models = {"original": original, args.method: unlearned, "retrain_null": retrains[-1],
                  **{f"retrain{r}": m for r, m in enumerate(retrains[:-1])}}
        results = unlearn.evaluate(models, {s: texts[s] for s in ("forget", "retain", "holdout")},
                                   reference=[f"retrain{r}" for r in range(REPLICATES)], tokenizer=tok, config=cfg)

    print(f"\n{'model':<14} {'forget NLL':>10} {'retain NLL':>10} {'membership AUC':>15}")
    for name, entry in results["models"].items():
        m = entry["metrics"]
        print(f"{name:<14} {m['forget.nll']:>10.3f} {m['retain.nll']:>10.3f} {m['forget.mia_loss_auc']:>15.3f}")
    print()
    for name, v in results["verdict"].items():
        print(f"verdict: {name}: {v['verdict']} ({v['reason']})")
    print(f"\ndone in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
