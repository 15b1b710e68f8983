"""The method contract, run over every entry of METHODS on a random tiny causal LM.

Each method needs a row here: a new method without one fails `test_every_method_has_a_row`.
"""
import copy
import sys

import pytest
import torch
from helpers import method_inputs, tiny_lm

from unlearn.config import TrainConfig
from unlearn.losses import forward_logits, sequence_nll
from unlearn.methods import METHODS
from unlearn.methods.stage import apply_method
from unlearn.train import make_accelerator

# name -> (ascent-type: forget NLL must rise, parameters expected to change: "all" or a name filter)
CONTRACT = {
    "corpus_deletion": None,  # trains nothing: the model stays the original
    "ga": (True, "all"),
    "graddiff": (True, "all"),
    "ga_kl": (True, "all"),
    "npo": (True, "all"),
    "simnpo": (True, "all"),  # alpha 0 (its default): with alpha 1 the retain term dominates here
    "retain_ft": (False, "all"),  # forgetting by interference: no ascent on the forget set
    "rmu": (False, "mlp"),
    "task_vector": (True, "all"),
    "idk_dpo": (True, "all"),
}


def test_every_method_has_a_row():
    assert set(CONTRACT) == set(METHODS)


def forget_nll(model, data):
    with torch.no_grad():
        batch = data.batch(list(range(len(data))))
        return sequence_nll(forward_logits(model, batch), batch["labels"]).mean().item()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_contract(name):
    cls = METHODS[name]
    method = cls(cls.Config())
    assert cls.kind in ("approximate", "exact") and cls.__doc__ and sys.modules[cls.__module__].__doc__
    if CONTRACT[name] is None:
        assert cls.trains is False
        return
    ascent, changes = CONTRACT[name]
    model = tiny_lm(0)
    before = copy.deepcopy(model)
    ref, splits, aligned = method_inputs(cls, method, model)
    forget = splits["forget"]
    cfg = TrainConfig(lr=1e-2, max_steps=4, batch_size=8, warmup_ratio=0.0, schedule="constant")
    result = apply_method(method, model, ref, splits, cfg, 0, make_accelerator(), aligned=aligned)
    assert result.status == "ok" and result.steps == 4
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in result.log)
    for (pname, p_after), p_before in zip(model.named_parameters(), before.parameters()):
        changed = not torch.equal(p_after, p_before)
        expected = changes == "all" or changes in pname
        assert changed == expected, f"{name}: parameter {pname} changed={changed}, expected {expected}"
    if ascent:
        assert forget_nll(model, forget) > forget_nll(before, forget) + 0.05
