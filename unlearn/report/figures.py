"""Figures from results.json alone (matplotlib, PNG and PDF, sized for a paper column).

- tradeoff: forget membership AUC (LOSS attack, forget vs holdout) against model utility, with
  95% intervals; retrain is the target, original the starting point.
- exposure: mean canary exposure of the forget users' canaries per insertion count.
- relearn: forget NLL of the held-out part V against relearning steps, per protocol, with the
  retrain control drawn black.
- cost: wall time of making each model (log scale) with retrain's as a line.
- roc: the LOSS membership attack's ROC, forget users vs holdout users, per model (log FPR);
  with several seeds the band is drawn for retrain and original only (all would hide the curves).
- unlearning: forget and retain NLL (on the first texts of each split) over each method's steps.
- recall: the share of the objecting users' questions answered correctly against the number of
  their own texts that stated the fact (data.fact_mentions), per model (95% intervals for
  original and retrain), with the holdout users' accuracy under the original (never seen: the
  chance level) as a line.
With several seeds every point is the mean over seeds and bars or bands are Student-t 95%
intervals (the `ci` of results.json; curves: per point over the seeds' curves); cost bars show
the seeds' range.
A figure whose data the results lack (no attacks, no canaries, no curves) is skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy import stats

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WIDTH = 3.4  # inches: one column of a two-column paper
STYLE = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 5.5,
         "xtick.labelsize": 6, "ytick.labelsize": 6}
REFERENCE = {"retrain": dict(color="black", marker="*", ms=8), "original": dict(color="tab:red", marker="X", ms=6),
             "base": dict(color="grey", marker="o", ms=4), "sisa": dict(color="black", marker="s", ms=4)}
OTHERS = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i not in (3, 7)]  # 8 hues: no red, no grey
MARKERS, LINES = ("o", "^", "D", "v"), ("-", "--", "-.", ":")  # the next 8 models repeat the hues with these


def _style(name: str, models: dict) -> dict:
    """Reference models keep their look; every other model one colour by its place in results
    (the same in every figure)."""
    if name in REFERENCE:
        return dict(REFERENCE[name], ls="--" if name == "retrain" else "-")
    others = [n for n in models if n not in REFERENCE]
    i = others.index(name) if name in others else 0
    k = i // len(OTHERS) % len(MARKERS)
    return dict(marker=MARKERS[k], ms=4, color=OTHERS[i % len(OTHERS)], ls=LINES[k])


def write_figures(results: dict, out: Path) -> list[Path]:
    """Every figure the results support, as out/<name>.png and .pdf; returns the PNG paths."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    with plt.rc_context(STYLE):
        for name, draw in (("tradeoff", _tradeoff), ("exposure", _exposure), ("relearn", _relearn), ("cost", _cost),
                           ("roc", _roc), ("unlearning", _unlearning), ("recall", _recall)):
            fig = draw(results["models"])
            if fig is None:
                continue
            fig.tight_layout(rect=(0, 0.12, 1, 1) if name in ("relearn", "unlearning") else None)
            # a PDF without its creation date: a rebuilt report has the same bytes
            for ext, metadata in (("png", None), ("pdf", {"CreationDate": None})):
                fig.savefig(out / f"{name}.{ext}", dpi=200, metadata=metadata)
            plt.close(fig)
            made.append(out / f"{name}.png")
        from unlearn.report.frontier_figure import frontier_figure

        fig = frontier_figure(results)
        if fig is not None:
            fig.tight_layout()
            for ext, metadata in (("png", None), ("pdf", {"CreationDate": None})):
                fig.savefig(out / f"frontier.{ext}", dpi=200, metadata=metadata)
            plt.close(fig)
            made.append(out / "frontier.png")
    return made


def _tradeoff(models: dict):
    key, util = "forget.mia_loss_auc", "utility.model_utility"
    pts = {n: m for n, m in models.items() if key in m["metrics"] and util in m["metrics"]}
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 3.3))
    for name, m in pts.items():
        x, y = m["metrics"][key], m["metrics"][util]
        ci = m.get("ci", {})
        xerr = np.array([_err(x, ci[key])]).T if key in ci else None
        yerr = np.array([_err(y, ci[util])]).T if util in ci else None
        style = _style(name, models)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=style["marker"], ms=style["ms"], color=style["color"],
                    elinewidth=0.6, capsize=1.5, label=name)
    ax.axvline(0.5, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("forget membership AUC (LOSS; 0.5 = no signal)")
    ax.set_ylabel("model utility (harmonic mean)")
    ax.set_title("Forgetting vs utility (judge against retrain ★)")
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return fig


def _exposure(models: dict):
    counts = _suffix_counts(models, r"forget\.exposure_r(\d+)")
    if not counts:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 3.1))
    for name, m in models.items():
        if all(f"forget.exposure_r{c}" in m["metrics"] for c in counts):
            _series(ax, m, [(c, f"forget.exposure_r{c}") for c in counts], _style(name, models), name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("insertions of the canary in training")
    ax.set_ylabel("exposure (bits)")
    ax.set_title("Canary exposure of the objecting users' secrets")
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    return fig


def _err(value: float, ci) -> list[float]:
    """Error-bar lengths below and above `value` for its interval `ci` (none: 0). A mean over seeds
    can lie outside an interval built on the logit or log scale (stats.t_interval): the bar then
    runs from the point to the interval's far edge only."""
    return [max(0.0, value - ci[0]), max(0.0, ci[1] - value)] if ci else [0.0, 0.0]


def _suffix_counts(models: dict, pattern: str) -> list[int]:
    """The numbers n of metric keys matching `pattern` (one group) in any model, sorted."""
    return sorted({int(hit.group(1)) for m in models.values() for k in m["metrics"] if (hit := re.fullmatch(pattern, k))})


def _series(ax, m: dict, points: list[tuple[int, str]], style: dict, label: str) -> None:
    """One model's line over (x, metric key) points, with its 95% intervals as error bars."""
    xs, ys = [x for x, _ in points], [m["metrics"][k] for _, k in points]
    cis = [m.get("ci", {}).get(k) for _, k in points]
    err = np.array([_err(y, ci) for y, ci in zip(ys, cis)]).T
    ax.errorbar(xs, ys, yerr=err, marker=style["marker"], ms=min(style["ms"], 5), color=style["color"],
                ls=style.get("ls", "-"), lw=0.8, elinewidth=0.4, capsize=1, label=label)


def _relearn(models: dict):
    found = {}
    for name, m in models.items():
        for k, v in m["metrics"].items():
            if (hit := re.fullmatch(r"attacks\.relearn\.(\w)_steps(\d+)\.forget\.nll", k)):
                found.setdefault(hit.group(1), {}).setdefault(name, {})[int(hit.group(2))] = v
    if not found:
        return None
    protocols = sorted(found)
    fig, axes = plt.subplots(1, len(protocols), figsize=(WIDTH * (1 if len(protocols) == 1 else 1.6), 3.1),
                             squeeze=False, sharey=True)
    for ax, p in zip(axes[0], protocols):
        for name, steps in found[p].items():
            xs = sorted(steps)
            style = _style(name, models)
            ys = [steps[s] for s in xs]
            cis = [models[name].get("ci", {}).get(f"attacks.relearn.{p}_steps{s}.forget.nll") for s in xs]
            err = np.array([_err(y, ci) for y, ci in zip(ys, cis)]).T
            ax.errorbar(xs, ys, yerr=err, marker=style["marker"], ms=min(style["ms"], 5), color=style["color"],
                        lw=1.4 if name == "retrain" else 0.8, elinewidth=0.4, capsize=1, label=name)
        ax.set_xlabel("relearning steps")
        ax.set_title(f"protocol {p}")
    axes[0][0].set_ylabel("forget NLL of held-out part V")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=7 if len(protocols) > 1 else 4, loc="lower center", frameon=False)
    fig.subplots_adjust(bottom=0.3)
    return fig


def _cost(models: dict):
    # models that cost nothing to make (corpus deletion: the original, untouched) are left out
    rows = [(n, m["cost"]["wall_s"]) for n, m in models.items() if n != "base" and m["cost"].get("wall_s", 0) >= 0.01]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 2.4))
    names, walls = zip(*rows)
    spread = [models[n]["cost"].get("wall_s_per_seed") for n in names]  # several seeds: min..max as bars
    err = np.array([[w - min(s), max(s) - w] if s else [0.0, 0.0] for w, s in zip(walls, spread)]).T
    ax.bar(range(len(rows)), walls, yerr=err, error_kw=dict(lw=0.5, capsize=1),
           color=["black" if n == "retrain" else "tab:blue" for n in names])
    if "retrain" in models:
        ax.axhline(models["retrain"]["cost"]["wall_s"], color="black", lw=0.6, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), names, rotation=60, ha="right")
    ax.set_ylabel("wall time to make the model (s)")
    ax.set_title("Cost (sisa: the deletion; dashed: retrain)")
    return fig


def _mean_band(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Point-wise mean of equally long curves and their Student-t 95% half-width (None: one)."""
    arr = np.asarray(curves, dtype=float)
    if len(arr) < 2:
        return arr[0], None
    return arr.mean(0), stats.t.ppf(0.975, len(arr) - 1) * arr.std(0, ddof=1) / np.sqrt(len(arr))


def _seed_curves(m: dict, key: str) -> list:
    return [c[key] for c in (m.get("curves") or {}).values() if c and key in c]


def _roc(models: dict):
    found = {n: _seed_curves(m, "roc_forget") for n, m in models.items()}
    found = {n: c for n, c in found.items() if c}
    if not found:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 3.3))
    for name, curves in found.items():
        fpr = np.asarray(curves[0]["fpr"])
        tpr, half = _mean_band([c["tpr"] for c in curves])
        keep = fpr > 0  # log axis
        style = _style(name, models)
        ax.plot(fpr[keep], tpr[keep], color=style["color"], lw=1.4 if name in ("retrain", "original") else 0.8,
                ls=style["ls"], label=name)
        if half is not None and name in ("retrain", "original"):  # 14 overlapping bands would hide the curves
            ax.fill_between(fpr[keep], (tpr - half)[keep], (tpr + half)[keep], color=style["color"], alpha=0.12, lw=0)
    ax.plot([1e-3, 1], [1e-3, 1], color="grey", lw=0.5, ls=":")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate (holdout users flagged)")
    ax.set_ylabel("true-positive rate (forget users flagged)")
    ax.set_title("Membership (LOSS attack) ROC: forget vs holdout")
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return fig


def _unlearning(models: dict):
    found = {n: _seed_curves(m, "unlearning") for n, m in models.items()}
    found = {n: c for n, c in found.items() if c}
    if not found:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH * 1.6, 3.1), sharex=True)
    for name, curves in found.items():
        steps = [e["step"] for e in curves[0]]
        same = [c for c in curves if [e["step"] for e in c] == steps]  # seeds logged at the same steps
        style = _style(name, models)
        for ax, key in zip(axes, ("forget_nll_eval", "retain_nll_eval")):
            y, half = _mean_band([[e[key] for e in c] for c in same])
            ax.plot(steps, y, color=style["color"], marker=style["marker"], ms=2.5, lw=0.8, label=name)
            if half is not None:
                ax.fill_between(steps, y - half, y + half, color=style["color"], alpha=0.12, lw=0)
    axes[0].set_ylabel("NLL")
    for ax, split in zip(axes, ("forget", "retain")):
        ax.set_xlabel("unlearning step")
        ax.set_title(f"{split} texts (first {split} examples)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=5, loc="lower center", frameon=False)
    return fig


def _recall(models: dict):
    counts = _suffix_counts(models, r"forget\.qa_accuracy_m(\d+)")
    if not counts:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    for name, m in models.items():
        points = [(c, f"forget.qa_accuracy_m{c}") for c in counts if f"forget.qa_accuracy_m{c}" in m["metrics"]]
        if name != "base" and points:  # intervals for the two ends only: a dozen overlapping bars hide the lines
            _series(ax, m if name in ("original", "retrain") else {"metrics": m["metrics"]}, points,
                    _style(name, models), name)
    chance = models.get("original", {}).get("metrics", {}).get("holdout.qa_accuracy")
    if chance is not None:
        ax.axhline(chance, color="grey", lw=0.6, ls=":", label="never seen (holdout, original)")
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("texts of the user that stated the fact")
    ax.set_ylabel("answered correctly")
    ax.set_title("Objecting users' facts the chatbot states, by mentions", fontsize=6.5)
    ax.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return fig
