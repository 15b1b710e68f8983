"""Figures from results.json alone (matplotlib, PNG and PDF, sized for a paper column).

- tradeoff: forget membership AUC (LOSS attack, forget vs holdout) against model utility, with
  95% intervals; retrain is the target, original the starting point.
- exposure: mean canary exposure of the forget users' canaries per insertion count (95% intervals
  for original and retrain: a dozen overlapping bars would hide the lines).
- relearn: forget NLL of the held-out part V against relearning steps, one panel per protocol
  (named in words), with the retrain reference drawn black with its interval as a band.
- cost: wall time of making each model (log scale) with retrain's as a line.
- roc: the LOSS membership attack's ROC, forget users vs holdout users, per model (log FPR);
  with several seeds the band is drawn for retrain and original only (all would hide the curves).
- unlearning: forget and retain NLL (on the first texts of each split) over each method's steps,
  from step 0 (the original's NLL on the whole split, when the curve has no step 0 of its own and
  every method starts from the original), with retrain's NLL on the whole split as a dashed line
  and its interval as a band.
- recall: the share of the objecting users' questions answered correctly against the number of
  their own texts that stated the fact (data.fact_mentions), per model (95% intervals for
  original and retrain), with the holdout users' accuracy under the original (never seen: the
  chance level) as a line.
With several seeds every point is the mean over seeds and bars or bands are Student-t 95%
intervals (the `ci` of results.json; curves: per point over the seeds' curves); cost bars show
the seeds' range.
Bars and bands are clipped to the metric's range (metrics.bounds: AUCs and rates in [0, 1], NLL and
exposure ≥ 0, exposure ≤ log2 of the largest canary space): a Student-t band can pass a bound that
the mean cannot. Every model has one colour-and-marker look in every figure (report/style.py);
legends are 7 pt, below the axes.
A figure whose data the results lack (no attacks, no canaries, no curves) is skipped.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from unlearn.report.style import style  # noqa: E402

WIDTH = 3.4  # inches: one column of a two-column paper
STYLE = {"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "legend.fontsize": 7,
         "xtick.labelsize": 6.5, "ytick.labelsize": 6.5, "legend.handlelength": 2.0, "legend.columnspacing": 0.8,
         "legend.handletextpad": 0.4, "errorbar.capsize": 1.2}
PROTOCOLS = {"a": "Relearning on the users' other facts (protocol a)", "b": "Relearning on other users (protocol b)",
             "c": "Relearning on unrelated texts (protocol c)"}  # attacks/relearn.py


def _style(name: str, models: dict) -> dict:
    """The model's look (report/style.py): color, marker, ls, ms, mec."""
    return style(name, list(models))


def _figure(width: float, height: float, cols: int = 1, **kw):
    return plt.subplots(1, cols, figsize=(width, height), layout="constrained", squeeze=False, **kw)


def _legend(fig, axes) -> None:
    """One legend below the axes for all panels, as many columns as the width holds."""
    seen: dict = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    renderer = fig.canvas.get_renderer()
    for ncol in range(max(1, int(fig.get_figwidth() / 0.9)), 0, -1):  # the most columns that fit the width
        legend = fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=ncol, frameon=False)
        if ncol == 1 or legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            return
        legend.remove()


def write_figures(results: dict, out: Path) -> list[Path]:
    """Every figure the results support, as out/<name>.png and .pdf; returns the PNG paths."""
    from unlearn.report.curve_figures import recall, roc, unlearning
    from unlearn.report.frontier_figure import frontier_figure

    out.mkdir(parents=True, exist_ok=True)
    made = []
    with plt.rc_context(STYLE):
        for name, draw in (("tradeoff", _tradeoff), ("exposure", _exposure), ("relearn", _relearn), ("cost", _cost),
                           ("roc", roc), ("unlearning", unlearning), ("recall", recall),
                           ("frontier", frontier_figure)):
            fig = draw(results)
            if fig is None:
                continue
            # a PDF without its creation date: a rebuilt report has the same bytes
            for ext, metadata in (("png", None), ("pdf", {"CreationDate": None})):
                fig.savefig(out / f"{name}.{ext}", dpi=200, metadata=metadata)
            plt.close(fig)
            made.append(out / f"{name}.png")
    return made


def _range(key: str | None) -> tuple[float, float]:
    """The values `key` can take (metrics.bounds); exposure at most log2 of the largest canary space."""
    if key is None:
        return -math.inf, math.inf
    from unlearn.metrics import bounds, metric_name

    lo, hi = bounds(key)
    if metric_name(key) == "exposure":
        from unlearn.metrics.exposure import SPACE

        hi = math.log2(max(SPACE.values()))
    return lo, hi


def _err(value: float, ci, key: str | None = None) -> list[float]:
    """Error-bar lengths below and above `value` for its interval `ci` (none: 0), the interval
    clipped to the range of `key`'s values. A mean over seeds can lie outside an interval built on
    the logit or log scale (stats.t_interval): the bar then runs from the point to the far edge only."""
    if not ci:
        return [0.0, 0.0]
    lo, hi = _range(key)
    return [max(0.0, value - max(ci[0], lo)), max(0.0, min(ci[1], hi) - value)]


def _errors(ys, cis, keys) -> np.ndarray:
    return np.array([_err(y, ci, k) for y, ci, k in zip(ys, cis, keys)]).T


def _tradeoff(results: dict):
    models = results["models"]
    key, util = "forget.mia_loss_auc", "utility.model_utility"
    pts = {n: m for n, m in models.items() if key in m["metrics"] and util in m["metrics"]}
    if not pts:
        return None
    fig, axes = _figure(WIDTH, 4.2)
    ax = axes[0][0]
    for name, m in pts.items():
        x, y = m["metrics"][key], m["metrics"][util]
        ci = m.get("ci", {})
        xerr = np.array([_err(x, ci[key], key)]).T if key in ci else None
        yerr = np.array([_err(y, ci[util], util)]).T if util in ci else None
        st = _style(name, models)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, ls="none", marker=st["marker"], ms=st["ms"], color=st["color"],
                    mec=st["mec"], elinewidth=0.6, label=name, zorder=3 if name == "retrain" else 2)
    ax.axvline(0.5, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("forget membership AUC (LOSS; 0.5 = no signal)")
    ax.set_ylabel("model utility (harmonic mean)")
    ax.set_title("Forgetting vs utility (judge against retrain ★)")
    _legend(fig, axes)
    return fig


def _exposure(results: dict):
    models = results["models"]
    counts = _suffix_counts(models, r"forget\.exposure_r(\d+)")
    if not counts:
        return None
    fig, axes = _figure(WIDTH, 3.9)
    ax = axes[0][0]
    for name, m in models.items():
        if all(f"forget.exposure_r{c}" in m["metrics"] for c in counts):  # intervals: as in curve_figures.recall
            _series(ax, m if name in ("original", "retrain") else {"metrics": m["metrics"]},
                    [(c, f"forget.exposure_r{c}") for c in counts], _style(name, models), name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("insertions of the canary in training")
    ax.set_ylabel("exposure (bits)")
    ax.set_title("Canary exposure of the objecting users' secrets")
    _legend(fig, axes)
    return fig


def _suffix_counts(models: dict, pattern: str) -> list[int]:
    """The numbers n of metric keys matching `pattern` (one group) in any model, sorted."""
    return sorted({int(hit.group(1)) for m in models.values() for k in m["metrics"] if (hit := re.fullmatch(pattern, k))})


def _series(ax, m: dict, points: list[tuple[int, str]], st: dict, label: str) -> None:
    """One model's line over (x, metric key) points, with its 95% intervals as error bars."""
    xs, ys = [x for x, _ in points], [m["metrics"][k] for _, k in points]
    cis = [m.get("ci", {}).get(k) for _, k in points]
    ax.errorbar(xs, ys, yerr=_errors(ys, cis, [k for _, k in points]), marker=st["marker"], ms=min(st["ms"], 5),
                color=st["color"], mec=st["mec"], ls=st["ls"], lw=0.8, elinewidth=0.4, label=label)


def _relearn(results: dict):
    models, found = results["models"], {}
    for name, m in models.items():
        for k in m["metrics"]:
            if (hit := re.fullmatch(r"attacks\.relearn\.(\w)_steps(\d+)\.forget\.nll", k)):
                found.setdefault(hit.group(1), {}).setdefault(name, {})[int(hit.group(2))] = k
    if not found:
        return None
    protocols = sorted(found)
    fig, axes = _figure(WIDTH * (1 if len(protocols) == 1 else 1.6), 4.0 if len(protocols) == 1 else 3.6,
                        cols=len(protocols), sharey=True)
    for ax, p in zip(axes[0], protocols):
        for name, steps in found[p].items():
            xs = sorted(steps)
            keys = [steps[s] for s in xs]
            ys = [models[name]["metrics"][k] for k in keys]
            cis = [models[name].get("ci", {}).get(k) for k in keys]
            st = _style(name, models)
            if name == "retrain":  # the reference: a thick line and its interval as a band
                err = _errors(ys, cis, keys)
                ax.fill_between(xs, np.array(ys) - err[0], np.array(ys) + err[1], color="black", alpha=0.12, lw=0)
            ax.errorbar(xs, ys, yerr=None if name == "retrain" else _errors(ys, cis, keys), marker=st["marker"],
                        ms=min(st["ms"], 5), color=st["color"], mec=st["mec"], ls=st["ls"],
                        lw=1.5 if name == "retrain" else 0.8, elinewidth=0.4, label=name,
                        zorder=3 if name == "retrain" else 2)
        ax.set_xticks(sorted({s for steps in found[p].values() for s in steps}))
        ax.set_xlabel("relearning steps")
        ax.set_title(PROTOCOLS.get(p, f"Relearning, protocol {p}"))
    axes[0][0].set_ylabel("forget NLL of the held-out part V")
    _legend(fig, axes)
    return fig


def _cost(results: dict):
    models = results["models"]
    # models that cost nothing to make (corpus deletion: the original, untouched) are left out
    rows = [(n, m["cost"]["wall_s"]) for n, m in models.items() if n != "base" and m["cost"].get("wall_s", 0) >= 0.01]
    if not rows:
        return None
    fig, axes = _figure(WIDTH, 2.6)
    ax = axes[0][0]
    names, walls = zip(*rows)
    spread = [models[n]["cost"].get("wall_s_per_seed") for n in names]  # several seeds: min..max as bars
    err = np.array([[w - min(s), max(s) - w] if s else [0.0, 0.0] for w, s in zip(walls, spread)]).T
    ax.bar(range(len(rows)), walls, yerr=err, error_kw=dict(lw=0.5, capsize=1),
           color=[_style(n, models)["color"] for n in names], edgecolor="#333333", linewidth=0.4)
    if "retrain" in models:
        ax.axhline(models["retrain"]["cost"]["wall_s"], color="black", lw=0.6, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), names, rotation=60, ha="right")
    ax.set_ylabel("wall time to make the model (s)")
    ax.set_title("Cost of making each model\n(sisa: the deletion; dashed line: retrain)")
    return fig
