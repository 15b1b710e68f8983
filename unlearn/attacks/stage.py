"""Running the attacks on one model (a pipeline stage) and turning their arrays into results.

Stage folder: `attack-<name>.npz` per attack (keys `<setting>|<split>.<metric>`), and
`attacks.json` with each attack's status, wall time and error message if it failed.
"""
from __future__ import annotations

import inspect
import json
import time
import traceback
from pathlib import Path

import numpy as np

from unlearn.attacks import ATTACKS, RECOVERY, baseline_of, headline
from unlearn.attacks.recovery import level_metrics, summarize_attack
from unlearn.memory import release_freed_memory
from unlearn.models import load_model


def run_attacks(model_dir: Path, ctx, out: Path) -> dict:
    """Every configured attack on the model in `model_dir`; arrays and a log written to `out`.

    Attacks run on the main process, except those that train (`distributed = True`: relearning
    goes through train.py, whose collective steps need every process); the others wait."""
    log = {}
    for name in ctx.cfg.attacks.names:
        attack = ATTACKS[name](ctx.cfg.attacks)
        if not (ctx.acc.is_main_process or getattr(attack, "distributed", False)):
            continue
        model, tok = load_model(model_dir)  # fresh per attack: none may leak into the next
        model.to(ctx.acc.device)
        start = time.perf_counter()
        try:
            # the model is the attack's own: one that can work on it in place saves a copy
            handover = {"own_model": True} if "own_model" in inspect.signature(attack.run).parameters else {}
            arrays = attack.run(model, tok, ctx, **handover)
            if ctx.acc.is_main_process:
                np.savez(out / f"attack-{name}.npz",
                         **{f"{s}|{k}": v for s, per in arrays.items() for k, v in per.items()})
            log[name] = {"status": "ok", "wall_s": time.perf_counter() - start}
        except Exception as err:  # an attack that breaks is recorded, never fatal
            log[name] = {"status": "failed", "message": f"{type(err).__name__}: {err}",
                         "traceback": traceback.format_exc(), "wall_s": time.perf_counter() - start}
        details = getattr(attack, "record", None) or getattr(attack, "info", None)
        if details:  # e.g. relearning data sizes and losses, the probe's layer and dropped users
            log[name]["details"] = details
        del model, attack  # before the next attack loads its own
        release_freed_memory()
    if ctx.acc.is_main_process:
        (out / "attacks.json").write_text(json.dumps(log, indent=1, default=_plain))
    return {"status": "ok"}


def _plain(value):
    """JSON for numpy scalars and arrays in attack details."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def load_attack_arrays(folder: Path) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """attack -> setting -> key -> per-item array, from a stage folder."""
    out = {}
    for path in sorted(folder.glob("attack-*.npz")):
        per: dict[str, dict[str, np.ndarray]] = {}
        with np.load(path) as data:
            for flat in data.files:
                setting, key = flat.split("|", 1)
                per.setdefault(setting, {})[key] = data[flat]
        out[path.stem.removeprefix("attack-")] = per
    return out


def attack_metrics(model: dict, cfg_attacks) -> dict[str, float]:
    """Means per setting, recovery per setting and the headline post-attack level of every
    attack (attacks/recovery.py); the comparison with the reference is the verdict's."""
    out = {}
    for name, arrays in model.items():
        settings = ATTACKS[name](cfg_attacks).settings()
        baselines = {s: baseline_of(name, s, settings) for s in settings if baseline_of(name, s, settings) != s}
        out.update(summarize_attack(name, arrays))
        out.update(level_metrics(name, RECOVERY[name], baselines, arrays, headline(name, cfg_attacks)))
    return out
