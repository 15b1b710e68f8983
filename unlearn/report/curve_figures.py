"""The curve figures of the report (report/figures.py lists every figure and the rules they share):
the LOSS attack's ROC, the unlearning curves from step 0 with retrain's NLL, and QA recall against
the number of mentions."""
from __future__ import annotations

import numpy as np
from scipy import stats

from unlearn.report.figures import WIDTH, _figure, _legend, _series, _style, _suffix_counts


def _mean_band(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Point-wise mean of equally long curves and their Student-t 95% half-width (None: one)."""
    arr = np.asarray(curves, dtype=float)
    if len(arr) < 2:
        return arr[0], None
    return arr.mean(0), stats.t.ppf(0.975, len(arr) - 1) * arr.std(0, ddof=1) / np.sqrt(len(arr))


def _seed_curves(m: dict, key: str) -> list:
    return [c[key] for c in (m.get("curves") or {}).values() if c and key in c]


def roc(results: dict):
    models = results["models"]
    found = {n: _seed_curves(m, "roc_forget") for n, m in models.items()}
    found = {n: c for n, c in found.items() if c}
    if not found:
        return None
    fig, axes = _figure(WIDTH, 4.2)
    ax = axes[0][0]
    for name, curves in found.items():
        fpr = np.asarray(curves[0]["fpr"])
        tpr, half = _mean_band([c["tpr"] for c in curves])
        keep = fpr > 0  # log axis
        st = _style(name, models)
        ax.plot(fpr[keep], tpr[keep], color=st["color"], lw=1.4 if name in ("retrain", "original") else 0.8,
                ls=st["ls"], marker=st["marker"], ms=3, mec=st["mec"], markevery=0.12, label=name)
        if half is not None and name in ("retrain", "original"):  # 14 overlapping bands would hide the curves
            ax.fill_between(fpr[keep], np.clip(tpr - half, 0, 1)[keep], np.clip(tpr + half, 0, 1)[keep],
                            color=st["color"], alpha=0.12, lw=0)
    ax.plot([1e-3, 1], [1e-3, 1], color="grey", lw=0.5, ls=":")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate (holdout users flagged)")
    ax.set_ylabel("true-positive rate (forget users flagged)")
    ax.set_title("Membership (LOSS attack) ROC: forget vs holdout")
    _legend(fig, axes)
    return fig


def unlearning(results: dict):
    models = results["models"]
    found = {n: _seed_curves(m, "unlearning") for n, m in models.items()}
    found = {n: c for n, c in found.items() if c}
    if not found:
        return None
    # step 0 is the original when every method starts from it (one deletion round)
    rounds = ((results.get("meta") or {}).get("config") or {}).get("data", {}).get("objection_rounds", 1)
    start = models.get("original", {}).get("metrics", {}) if rounds == 1 else {}
    splits = (("forget", "Forgetting: NLL on the objecting users' texts"),
              ("retain", "Keeping: NLL on the other users' texts"))
    fig, axes = _figure(WIDTH * 1.6, 3.6, cols=2, sharex=True)
    for name, curves in found.items():
        steps = [e["step"] for e in curves[0]]
        same = [c for c in curves if [e["step"] for e in c] == steps]  # seeds logged at the same steps
        st = _style(name, models)
        for ax, (split, _) in zip(axes[0], splits):
            y, half = _mean_band([[e[f"{split}_nll_eval"] for e in c] for c in same])
            xs = list(steps)
            if steps[0] != 0 and f"{split}.nll" in start:
                xs, y = [0] + xs, np.concatenate([[start[f"{split}.nll"]], y])
                half = None if half is None else np.concatenate([[0.0], half])
            ax.plot(xs, y, color=st["color"], marker=st["marker"], ms=3, mec=st["mec"], ls=st["ls"], lw=0.8,
                    label=name)
            if half is not None:
                ax.fill_between(xs, np.maximum(y - half, 0), y + half, color=st["color"], alpha=0.12, lw=0)
    retrain = models.get("retrain", {})
    for ax, (split, title) in zip(axes[0], splits):
        key = f"{split}.nll"
        if key in retrain.get("metrics", {}):
            level, ci = retrain["metrics"][key], retrain.get("ci", {}).get(key)
            ax.axhline(level, color="black", lw=1.2, ls="--", label="retrain (whole split)")
            if ci:
                lo, hi = max(ci[0], 0.0), ci[1]
                ax.axhspan(lo, hi, color="black", alpha=0.08, lw=0)
        ax.set_xlabel("unlearning step" + (" (0: the original, whole split)" if start else ""))
        ax.set_title(title)
        ax.set_xlim(left=0)
    axes[0][0].set_ylabel("NLL (first texts of the split)")
    _legend(fig, axes)
    return fig


def recall(results: dict):
    models = results["models"]
    counts = _suffix_counts(models, r"forget\.qa_accuracy_m(\d+)")
    if not counts:
        return None
    fig, axes = _figure(WIDTH, 4.3)
    ax = axes[0][0]
    for name, m in models.items():
        points = [(c, f"forget.qa_accuracy_m{c}") for c in counts if f"forget.qa_accuracy_m{c}" in m["metrics"]]
        if name != "base" and points:  # intervals for the two ends only: a dozen overlapping bars hide the lines
            _series(ax, m if name in ("original", "retrain") else {"metrics": m["metrics"]}, points,
                    _style(name, models), name)
    chance = models.get("original", {}).get("metrics", {}).get("holdout.qa_accuracy")
    if chance is not None:
        ax.axhline(chance, color="grey", lw=0.6, ls=":", label="never seen (chance)")
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("texts of the user that stated the fact")
    ax.set_ylabel("answered correctly")
    ax.set_title("Objecting users' facts the chatbot states, by mentions")
    _legend(fig, axes)
    return fig
