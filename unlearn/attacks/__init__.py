"""Attacks that try to bring removed data back. `ATTACKS`: name -> class with `settings()` (the
first is the attack's own baseline: no attack) and `run(model, tok, ctx)` -> per-setting
per-item arrays (attacks/base.py). Each class names the per-item array its recovery is judged
on (`recovery`, higher = more of the data). Every attack runs on every unlearned model, on
retrain (the control) and on original (the ceiling); recovery.py compares them.
"""
from __future__ import annotations

from unlearn.attacks.lens import Lens
from unlearn.attacks.probe import Probe
from unlearn.attacks.prompting import Prompting
from unlearn.attacks.quantize import Quantize
from unlearn.attacks.relearn import Relearn
from unlearn.attacks.sampling import Sampling

ATTACKS = {
    "relearn": Relearn,
    "quantize": Quantize,
    "prompting": Prompting,
    "sampling": Sampling,
    "probe": Probe,
    "lens": Lens,
}


# the per-item array each attack's recovery is judged on (higher = more of the data) ...
RECOVERY = {
    "relearn": "forget.loss_score",  # −NLL of the held-out part V of the forget texts
    "quantize": "forget.loss_score",
    "prompting": "forget.qa_answer_prob",
    "sampling": "forget.pii_extraction",
    "probe": "forget.probe_correct",
    "lens": "forget.lens_extraction",  # the value is what some layer's lens states
}


def headline(name: str, cfg_attacks) -> str:
    """... and the setting whose post-attack level (`attacks.<name>.level`) the verdict judges: the strongest."""
    if name == "relearn":
        protocol = "b" if "b" in cfg_attacks.relearn_protocols else cfg_attacks.relearn_protocols[0]
        return f"{protocol}_steps{max(cfg_attacks.relearn_steps)}"
    return {"quantize": f"int{min(cfg_attacks.quantize_bits)}", "prompting": "kshot",
            "sampling": f"n{cfg_attacks.sampling_n}", "probe": "linear", "lens": "lens"}[name]


def baseline_of(name: str, setting: str, settings: list[str]) -> str:
    """The setting `setting` is compared with: relearning a protocol for 0 steps, else the first."""
    if name == "relearn":
        return setting.split("_steps")[0] + "_steps0"
    return settings[0]


def check_attack_names(names, source: str = "config") -> None:
    """Unknown attack names raise, listing the valid ones."""
    for name in names:
        if name not in ATTACKS:
            raise ValueError(f"{source}: unknown attack '{name}' (valid: {', '.join(ATTACKS)})")
