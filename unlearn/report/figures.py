"""Figures from results.json alone (matplotlib, PNG and PDF, sized for a paper column).

- tradeoff: forget membership AUC (LOSS attack, forget vs holdout) against model utility, with
  95% intervals; retrain is the target, original the starting point.
- exposure: mean canary exposure of the forget users' canaries per insertion count.
- relearn: forget NLL of the held-out part V against relearning steps, per protocol, with the
  retrain control drawn black.
- cost: wall time of making each model (log scale) with retrain's as a line.
A figure whose data the results lack (no attacks, no canaries) is skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WIDTH = 3.4  # inches: one column of a two-column paper
STYLE = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 5.5,
         "xtick.labelsize": 6, "ytick.labelsize": 6}
REFERENCE = {"retrain": dict(color="black", marker="*", ms=8), "original": dict(color="tab:red", marker="X", ms=6),
             "base": dict(color="grey", marker="o", ms=4), "sisa": dict(color="black", marker="s", ms=4)}
OTHERS = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (6, 7, 14, 15)]  # no reds, no greys


def _style(name: str, i: int) -> dict:
    return REFERENCE.get(name, dict(marker="o", ms=4, color=OTHERS[i % len(OTHERS)]))


def write_figures(results: dict, out: Path) -> list[Path]:
    """Every figure the results support, as out/<name>.png and .pdf; returns the PNG paths."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    with plt.rc_context(STYLE):
        for name, draw in (("tradeoff", _tradeoff), ("exposure", _exposure), ("relearn", _relearn), ("cost", _cost)):
            fig = draw(results["models"])
            if fig is None:
                continue
            fig.tight_layout(rect=(0, 0.12, 1, 1) if name == "relearn" else None)
            for ext in ("png", "pdf"):
                fig.savefig(out / f"{name}.{ext}", dpi=200)
            plt.close(fig)
            made.append(out / f"{name}.png")
    return made


def _tradeoff(models: dict):
    key, util = "forget.mia_loss_auc", "utility.model_utility"
    pts = {n: m for n, m in models.items() if key in m["metrics"] and util in m["metrics"]}
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 3.3))
    for i, (name, m) in enumerate(pts.items()):
        x, y = m["metrics"][key], m["metrics"][util]
        ci = m.get("ci", {})
        xerr = [[x - ci[key][0]], [ci[key][1] - x]] if key in ci else None
        yerr = [[y - ci[util][0]], [ci[util][1] - y]] if util in ci else None
        style = _style(name, i)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=style["marker"], ms=style["ms"], color=style["color"],
                    elinewidth=0.6, capsize=1.5, label=name)
    ax.axvline(0.5, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("forget membership AUC (LOSS; 0.5 = no signal)")
    ax.set_ylabel("model utility (harmonic mean)")
    ax.set_title("Forgetting vs utility (judge against retrain ★)")
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return fig


def _exposure(models: dict):
    counts = sorted({int(m.group(1)) for x in models.values() for k in x["metrics"]
                     if (m := re.fullmatch(r"forget\.exposure_r(\d+)", k))})
    if not counts:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 3.1))
    for i, (name, m) in enumerate(models.items()):
        ys = [m["metrics"].get(f"forget.exposure_r{c}") for c in counts]
        if any(y is None for y in ys):
            continue
        style = _style(name, i)
        ax.plot(counts, ys, marker=style["marker"], ms=min(style["ms"], 5), color=style["color"], lw=0.8, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("insertions of the canary in training")
    ax.set_ylabel("exposure (bits)")
    ax.set_title("Canary exposure of the objecting users' secrets")
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    return fig


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
        for i, (name, steps) in enumerate(found[p].items()):
            xs = sorted(steps)
            style = _style(name, i)
            ax.plot(xs, [steps[s] for s in xs], marker=style["marker"], ms=min(style["ms"], 5), color=style["color"],
                    lw=1.4 if name == "retrain" else 0.8, label=name)
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
    ax.bar(range(len(rows)), walls, color=["black" if n == "retrain" else "tab:blue" for n in names])
    if "retrain" in models:
        ax.axhline(models["retrain"]["cost"]["wall_s"], color="black", lw=0.6, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), names, rotation=60, ha="right")
    ax.set_ylabel("wall time to make the model (s)")
    ax.set_title("Cost (sisa: the deletion; dashed: retrain)")
    return fig
