"""The removal frontier's figure (unlearn/frontier.py's walk, from results.json's `frontier`)."""
from __future__ import annotations

import matplotlib.pyplot as plt

from unlearn.report.figures import WIDTH, _figure, _legend, _style


def frontier_figure(results: dict):
    """Forget NLL against utility along each method's frontier walk (frontier.py), from the
    original to where it stopped; the retrain replicates' range as a region, the null control
    as a point, a star at each method's first indistinguishable point."""
    frontier, models = results.get("frontier") or {}, results["models"]
    x, y = "forget.nll", "utility.model_utility"
    if not frontier or "original" not in models:
        return None
    fig, axes = _figure(WIDTH * 1.6, 4.4)
    ax = axes[0][0]
    reps = [r for per in (models.get("retrain", {}).get("replicates") or {}).values() for r in per
            if x in r and y in r]
    if reps:
        xs, ys = [r[x] for r in reps], [r[y] for r in reps]
        ax.add_patch(plt.Rectangle((min(xs), min(ys)), max(xs) - min(xs) or 1e-3, max(ys) - min(ys) or 1e-3,
                                   color="0.8", alpha=0.6, label="retrain replicates"))
    if "retrain_null" in models and x in models["retrain_null"]["metrics"]:
        m = models["retrain_null"]["metrics"]
        ax.plot([m[x]], [m.get(y)], ls="none", label="retrain_null (null control)",
                **{k: v for k, v in _style("retrain_null", models).items() if k != "ls"})
    start = models["original"]["metrics"]
    for name, f in frontier.items():
        pts = [(start.get(x), start.get(y))] + [(p.get("forget_nll"), p.get("utility")) for p in f.get("points") or []]
        pts = [(a, b) for a, b in pts if a is not None and b is not None]
        style = _style(name, models)
        ax.plot([a for a, _ in pts], [b for _, b in pts], label=name, lw=1, **dict(style, ms=min(style["ms"], 5)))
        first = f.get("first_indistinguishable")
        if first and first.get("forget_nll") is not None:
            ax.plot([first["forget_nll"]], [first["utility"]], marker="*", ms=10, color=style["color"], mec="black",
                    mew=0.4, ls="none")
    ax.plot([start.get(x)], [start.get(y)], ls="none", label="original (every walk's start)",
            **{k: v for k, v in _style("original", models).items() if k != "ls"})
    ax.set_xlabel("forget NLL (higher = less memorized)")
    ax.set_ylabel("model utility")
    ax.set_title("Removal frontier (★: the first point the plain tests cannot tell from retrain)")
    _legend(fig, axes)
    return fig
