"""The tuning stage of one method (`tune: true`): every variant of its grid is trained, scored on
validation texts held out of evaluation, and one is chosen by the declared rule (unlearn/tuning.py).
`run` is pipeline.SeedRun."""
from __future__ import annotations

import numpy as np

from unlearn.config import MethodSpec
from unlearn.data import encode
from unlearn.metrics.basic import nll
from unlearn.metrics.scoring import score
from unlearn.models import load_model
from unlearn.tuning import RULE, describe, select, variants


def tune(run, spec: MethodSpec, models: dict, debug: bool) -> tuple[MethodSpec, dict]:
    """Run every grid variant, score it on the validation texts, pick one by the declared rule."""
    from unlearn.pipeline import _unlearn as unlearn_variant  # late: the pipeline imports this module
    val = {s: [run.corpus.texts[s]["text"][i] for i in run.exclude[s]] for s in ("forget", "retain")}
    if not run.val_refs:  # the same for every method: score once per seed
        reference = [m for m in models.values() if m[0] == "retrain"]  # retrain and its replicates
        per = [_val_nll(run, m, val["retain"]) for m in reference]
        run.val_refs.update(target=_val_nll(run, models["retrain"], val["forget"]), baseline=float(np.mean(per)),
                            per_replicate=per, original=_val_nll(run, models["original"], val["retain"]))
    target, baseline = run.val_refs["target"], run.val_refs["baseline"]
    options, rows = variants(spec), []
    for variant in options:
        folder, info = unlearn_variant(run, variant, models["original"][1:], debug)
        row = {**describe(variant), "status": info["status"]}
        if info["status"] == "ok":
            row.update(forget_nll=_val_nll(run, (None, folder, info), val["forget"]),
                       retain_nll=_val_nll(run, (None, folder, info), val["retain"]))
        rows.append(row)
    ok = [i for i, r in enumerate(rows) if r["status"] == "ok"]
    if not ok:
        return spec, {"rule": RULE.format(min_utility=run.cfg.tuning.min_utility), "grid": rows, "chosen": None}
    pick, met = select([rows[i] for i in ok], target, baseline, run.cfg.tuning.min_utility)
    record = {"rule": RULE.format(min_utility=run.cfg.tuning.min_utility), "grid": rows, "chosen": ok[pick],
              "met_utility_floor": met, "retrain_val_forget_nll": target, "reference_val_retain_nll": baseline,
              "reference_val_retain_nll_per_replicate": run.val_refs["per_replicate"],
              "original_val_retain_nll": run.val_refs["original"],
              "val_examples": {s: len(v) for s, v in val.items()}}
    run.stages.say(f"[tuned]  {spec.name}: {describe(options[ok[pick]])}")
    return options[ok[pick]], record


def _val_nll(run, model_entry: tuple, texts: list[str]) -> float:
    """Mean per-example NLL of `texts` under a stage's model (validation scoring for tuning)."""
    _, folder, info = model_entry
    model, tok = load_model((folder / info["model_path"]).resolve())
    model.to(run.acc.device)
    scored = score(model, encode(tok, texts, run.cfg.model.max_length), run.cfg.eval.batch_size, run.acc.device)
    return float(np.mean(nll(scored)))
