"""RMU on SmolLM2: does any (layer, steering coefficient, alpha, lr) move the forget side?

Loads the fine-tuned original of a SmolLM2 run folder (e.g. `unlearn run configs/experiments/smollm2.yaml`),
applies RMU (unlearn/methods/rmu.py, through `unlearn.api.unlearn`) to the objecting users' texts with
the retain texts beside them, once per setting, and measures what the flagship measures on the forget
side and the price paid on the retain side: mean token NLL of the forget, retain and holdout texts (the
evaluation plan's texts), and the share of the objecting users' questions answered with the true value
(asked in the chat template, metrics/qa.py). Prints one row per setting and writes them as JSON.

    python scripts/rmu_calibration.py RUN_DIR [--out FILE] [setting ...]

A setting is `layer:coef:alpha:lr:epochs`, e.g. `7:2:30:5e-4:3` (the flagship's). Without settings,
the grid below runs. The retrain reference's levels in the same run folder are the target (retrain:
forget NLL 2.98, retain 0.233, holdout 2.34; it answers 8.4% of the objecting users' own questions
correctly, the original 61%).

Measured on runs/sm-fm6-original (SmolLM2 fine-tuned 3e-4 x 5 with fact_mentions 1-6; 48 RMU steps,
~1 min each setting; QA = share of all 40 questions about the objecting users answered correctly,
own and third-party):

| layer:coef:alpha:lr | forget NLL | retain NLL | holdout NLL | QA correct |
|---|---|---|---|---|
| original | 0.234 | 0.234 | 2.245 | 42.5% |
| 7:2:30:1.5e-4 (the earlier setting) | 0.238 | 0.234 | 2.245 | 45.0% |
| 7:2:10:3e-4 | 1.332 | 0.251 | 2.262 | 37.5% |
| 7:2:30:5e-4 (chosen) | 3.101 | 0.240 | 2.252 | 32.5% |
| 7:2:10:5e-4 | 5.861 | 0.398 | 2.393 | 27.5% |
| 7:2:3:5e-4 | 7.783 | 1.412 | 3.382 | 10.0% |
| 7:2:1:5e-4 | 9.006 | 3.483 | 5.987 | 2.5% |
| 7:6:3:5e-4 | 11.760 | 5.822 | 8.501 | 0.0% |
| 15:2:30:5e-4 | 7.500 | 0.255 | 2.209 | 17.5% |
| 15:2:10:5e-4 | 8.123 | 0.392 | 2.249 | 10.0% |
| 15:2:3:5e-4 | 9.678 | 1.091 | 2.760 | 2.5% |

The earlier lr was simply too small: at 5e-4 RMU reaches retrain's forget NLL with the retain side
intact, yet the assistant still answers a third of the questions about the objecting users
correctly; steering a later layer (15) brings that down to 17.5% at forget NLL 7.5 (far past
retrain's), and stronger settings wreck the retain side before the answers are gone.
"""
from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

GRID = ["7:2:30:1.5e-4:3", "7:2:10:5e-4:3", "7:2:3:5e-4:3", "7:2:1:5e-4:3", "7:6:3:5e-4:3", "15:2:3:5e-4:3"]


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
    settings = args[1:] or GRID
    cfg, corpus, plan, original, tok = load_run(Path(args[0]))
    texts = {s: list(corpus.texts[s]["text"][: cfg.eval.max_examples]) for s in ("retain", "holdout")}
    texts["forget"] = list(corpus.texts["forget"]["text"])
    rows = [{"setting": "original", **measure(original, tok, plan, texts, cfg)}]
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
