"""RMU on SmolLM2: does any (layer, steering coefficient, alpha, lr) move the forget side?

Loads the fine-tuned original of a SmolLM2 run folder (e.g. `unlearn run configs/experiments/smollm2.yaml`),
applies RMU (unlearn/methods/rmu.py, configs/methods/rmu.yaml's defaults under each setting) to the
objecting users' texts with the retain texts beside them, once per setting, and measures what the
flagship measures on the forget side and the price paid on the retain side: mean token NLL of every
forget text and of the evaluation plan's retain and holdout texts, and the share of the objecting users' questions answered with the true value
(asked in the chat template, metrics/qa.py). Prints one row per setting and writes them as JSON.

    python scripts/rmu_calibration.py RUN_DIR [--out FILE] [--reference] [setting ...]

`--reference` also measures the run's retrain models (alone: only them and the original).

A setting is `layer:coef:alpha:lr:epochs`, e.g. `7:2:30:5e-4:3` (the flagship's). Without settings,
the grid below runs.

Measured on runs/sm-fm6-original (SmolLM2 fine-tuned 3e-4 x 5 with fact_mentions 1-6; 48 RMU steps,
~1 min each setting; QA = share of all 40 questions about the objecting users answered correctly,
own and third-party; NLLs over every forget text and the plan's 60 retain and holdout texts). Rows
marked * were measured before the plan took every user's texts in turn: their retain and holdout
NLLs covered the first 60 texts (first users only) and are left out; their forget NLL and QA are
unaffected (the same texts and questions).

| setting (layer:coef:alpha:lr) | forget NLL | retain NLL | holdout NLL | QA correct |
|---|---|---|---|---|
| original | 0.234 | 0.213 | 2.450 | 42.5% |
| retrain, two replicates (`--reference`) | 2.669 / 2.590 | 0.207 / 0.210 | 2.486 / 2.519 | 10.0% / 0.0% |
| 7:2:30:1.5e-4 (the earlier setting) | 0.238 | 0.213 | 2.460 | 45.0% |
| 7:2:10:3e-4 | 1.332 | 0.229 | 2.484 | 37.5% |
| 7:2:30:5e-4 (chosen) | 3.101 | 0.215 | 2.451 | 32.5% |
| 7:2:10:5e-4 | 5.861 | 0.266 | 2.557 | 27.5% |
| 7:2:3:5e-4 | 7.783 | 1.574 | 3.632 | 10.0% |
| 7:2:1:5e-4 * | 9.006 | – | – | 2.5% |
| 7:6:3:5e-4 * | 11.760 | – | – | 0.0% |
| 15:2:30:5e-4 * | 7.500 | – | – | 17.5% |
| 15:2:10:5e-4 * | 8.123 | – | – | 10.0% |
| 15:2:3:5e-4 * | 9.678 | – | – | 2.5% |

The earlier lr was simply too small: at 5e-4 RMU moves the forget NLL a little past retrain's with
the retain and holdout NLLs at the original's, yet the assistant still answers a third of the
questions about the objecting users correctly (retrain: 0-10%). Steering a later layer (15) brings
that down to 17.5% at forget NLL 7.5 (far past retrain's); stronger settings at layer 7 wreck the
retain side (alpha 3: retain NLL 1.57) before the answers are gone.
"""
from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

GRID = ["7:2:30:1.5e-4:3", "7:2:10:3e-4:3", "7:2:30:5e-4:3", "7:2:10:5e-4:3", "7:2:3:5e-4:3", "7:2:1:5e-4:3",
        "7:6:3:5e-4:3", "15:2:30:5e-4:3", "15:2:10:5e-4:3", "15:2:3:5e-4:3"]


def nll(model, tok, texts, max_length, batch_size) -> float:
    """Mean over texts of the mean token NLL (the plain forget/retain NLL metric)."""
    from unlearn.data import encode
    from unlearn.metrics.scoring import score

    scored = score(model, encode(tok, texts, max_length), batch_size)
    return float(np.mean([-lp.mean() for lp in scored.logprobs]))


def measure(model, tok, plan, texts, cfg) -> dict:
    from unlearn.metrics import qa

    rows = plan.qa["forget"]
    answers = qa.ask(model, tok, rows, cfg.model.max_length, cfg.eval.batch_size, "cpu")
    out = {f"{s}_nll": nll(model, tok, texts[s], cfg.model.max_length, cfg.eval.batch_size)
           for s in ("forget", "retain", "holdout")}
    out["forget_qa_correct"] = float(np.mean([c == "correct" for c in qa.outcomes(answers, rows)]))
    return out


def rmu(model, tok, forget, retain, max_length, layer, coef, alpha, lr, epochs) -> None:
    """RMU on `model` in place, with the method's defaults (configs/methods/rmu.yaml) but these
    settings (`unlearn.api.method_settings` validates against the tiny model's layers: the layer is
    set on the validated knobs)."""
    import dataclasses

    from unlearn.api import method_settings
    from unlearn.data import encode
    from unlearn.methods import METHODS
    from unlearn.methods.stage import apply_method
    from unlearn.train import make_accelerator

    _, train_cfg, params = method_settings("rmu", steering_coef=coef, alpha=alpha, lr=lr, epochs=epochs)
    method = METHODS["rmu"](dataclasses.replace(params, layer=layer))
    splits = {"forget": encode(tok, forget, max_length), "retain": encode(tok, retain, max_length)}
    result = apply_method(method, model, copy.deepcopy(model), splits, train_cfg, 0, make_accelerator())
    if result.status != "ok":
        raise RuntimeError(result.message)


def main() -> None:
    from run_folder import load_run, take_out

    out_path, args = take_out(sys.argv[1:])
    reference = "--reference" in args
    args = [a for a in args if a != "--reference"]
    settings = args[1:] or ([] if reference else GRID)
    cfg, corpus, plan, original, tok = load_run(Path(args[0]))
    texts = {s: list(plan.texts[s]["text"]) for s in ("retain", "holdout")}  # the plan's: every user in turn
    texts["forget"] = list(corpus.texts["forget"]["text"])
    rows = [{"setting": "original", **measure(original, tok, plan, texts, cfg)}]
    print(json.dumps(rows[-1]), flush=True)
    if reference:  # the target: the run's retrain models, measured alike
        from unlearn.models import load_model

        for folder in sorted(Path(args[0]).glob("retrain-*/model")):
            rows.append({"setting": f"retrain {folder.parent.name}", **measure(load_model(folder)[0], tok, plan, texts, cfg)})
            print(json.dumps(rows[-1]), flush=True)
    for setting in settings:
        layer, coef, alpha, lr, epochs = setting.split(":")
        model = copy.deepcopy(original)
        torch.manual_seed(0)
        start = time.perf_counter()
        try:
            rmu(model, tok, list(corpus.texts["forget"]["text"]), list(corpus.texts["retain"]["text"]),
                cfg.model.max_length, int(layer), float(coef), float(alpha), float(lr), float(epochs))
            row = {"setting": setting, "train_s": time.perf_counter() - start, **measure(model, tok, plan, texts, cfg)}
        except RuntimeError as err:  # diverged: recorded, the grid goes on
            row = {"setting": setting, "error": str(err)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if out_path is not None:
        out_path.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
