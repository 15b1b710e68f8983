"""Train the tiny test LM and dump the loss curve; run alone or under torchrun (see test_train.py)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import random_tokens, tiny_lm  # noqa: E402

from unlearn.config import TrainConfig  # noqa: E402
from unlearn.losses import forward_logits, sequence_nll  # noqa: E402
from unlearn.train import make_accelerator, train  # noqa: E402


def loss(model, ref, batch):
    nll = sequence_nll(forward_logits(model, batch["train"]), batch["train"]["labels"]).mean()
    return nll, {"nll": nll.item()}


if __name__ == "__main__":
    acc = make_accelerator()
    model = tiny_lm(0)
    cfg = TrainConfig(lr=5e-3, epochs=3, batch_size=8, grad_accum=2, warmup_ratio=0.1)
    result = train(model, {"train": random_tokens(41, 1)}, "train", loss, cfg, seed=3, accelerator=acc)
    if acc.is_main_process:
        weights = float(sum(p.detach().double().abs().sum() for p in model.parameters()))
        Path(sys.argv[1]).write_text(json.dumps({"loss": [e["loss"] for e in result.log], "weights": weights,
                                                 "processes": acc.num_processes}))
