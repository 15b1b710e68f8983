"""The sweep report: every run of a grid in one table and one figure (unlearn/sweep.py).

One row per run and model (retrain, the null control, SISA and every judged method): the run's
grid values, the verdict against that run's own retrain reference, forget MIA AUC, forget quality,
model utility, the wall time of making the model and that time as a multiple of the same run's
retrain. A run that failed is one row saying so. The figure draws, against the grid's first
numeric key other than the seeds (e.g. the forget fraction), each method's cost relative to retrain
(left) and the share of its runs judged "removed" (right), pooled over the other keys.

Written into the sweep folder: summary.md, tables/sweep.{csv,json,md}, figures/sweep.png.
"""
from __future__ import annotations

import json
from pathlib import Path

from unlearn.report.table import Table, cell, number

SHOWN = ("retrain", "retrain_null", "sisa")  # besides the judged methods
METRICS = (("forget.mia_loss_auc", "forget AUC"), ("forget_quality", "forget quality"),
           ("utility.model_utility", "utility"))


def sweep_table(record: dict, out: Path) -> Table:
    """The aggregate table of a sweep record (sweep.json) whose runs lie under `out`."""
    keys = list(record["grid"])
    table = Table(head=[*keys, "model", "verdict", *(h for _, h in METRICS), "wall s", "× retrain"],
                  keys=[*keys, "model", "verdict", *(k for k, _ in METRICS), "wall_s", "cost_vs_retrain"],
                  caption=f"Sweep {record['name']}: {len(record['points'])} runs of {record['config']} "
                          f"(grid: {', '.join(keys)}). Verdicts against each run's own retrain reference.")
    for point in record["points"]:
        grid_cells = [_value(point["values"][k]) for k in keys]
        results = _results(out, point)
        if results is None:
            table.rows.append([*grid_cells, "–", f"failed: {point.get('message', 'no results.json')}",
                               *(["–"] * (len(METRICS) + 2))])
            continue
        models, verdicts = results["models"], results.get("verdict") or {}
        retrain_wall = float(models["retrain"]["cost"]["wall_s"]) if "retrain" in models else None
        for name, entry in models.items():
            if name not in SHOWN and name not in verdicts:
                continue
            wall = float(entry["cost"]["wall_s"])
            ratio = wall / retrain_wall if retrain_wall else None
            table.rows.append([*grid_cells, name, verdicts.get(name, {}).get("verdict", "reference"),
                               *(cell(entry["metrics"].get(k)) for k, _ in METRICS),
                               number(wall, f"{wall:.1f}"),
                               number(ratio, "–" if ratio is None else f"{ratio:.3f}×")])
    return table


def _value(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _results(out: Path, point: dict) -> dict | None:
    path = Path(out) / point["run_dir"] / "results.json"
    if point.get("status") != "ok" or not path.is_file():
        return None
    return json.loads(path.read_text())


def write_sweep_report(record: dict, out: Path) -> Path:
    """summary.md, tables/sweep.*, figures/sweep.png; returns summary.md's path."""
    from unlearn.stages import write_json_atomic

    out = Path(out)
    table = sweep_table(record, out)
    (out / "tables").mkdir(exist_ok=True)
    (out / "tables" / "sweep.csv").write_text(table.csv())
    write_json_atomic(out / "tables" / "sweep.json", table.as_json())
    (out / "tables" / "sweep.md").write_text(table.markdown() + "\n")
    figure = sweep_figure(record, table, out / "figures" / "sweep.png")
    stages = record["stages"]
    failed = [p["name"] for p in record["points"] if p.get("status") != "ok"]
    lines = [f"# Sweep {record['name']}", "",
             f"`unlearn sweep {record['sweep_file']}` on Ray ({record.get('address', 'local')}, "
             f"{record.get('cpus_per_task', '?')} CPUs a task): {len(record['points'])} runs, "
             f"{record['tasks']['prepare']} corpus/base tasks, {record['tasks']['fit']} fine-tunings; "
             f"{stages['built']} stages built by this invocation into one shared cache of {stages['folders']} "
             f"stage folders" + (f" (built twice: {', '.join(stages['built_twice'])})" if stages["built_twice"] else
                                 ", none built twice") + f"; wall time {record.get('wall_s', 0):.0f} s.", ""]
    if failed:
        lines += [f"Failed runs: {', '.join(failed)} (their rows say why).", ""]
    lines += [table.markdown(), ""]
    if figure is not None:
        lines += [f"![sweep](figures/{figure.name})", ""]
    lines += ["Each run's own report: " + ", ".join(f"[{p['name']}]({p['run_dir']}/report.md)"
                                                    for p in record["points"] if p.get("status") == "ok"), ""]
    path = out / "summary.md"
    path.write_text("\n".join(lines))
    return path


def sweep_figure(record: dict, table: Table, path: Path) -> Path | None:
    """Cost vs retrain and the share of runs judged removed, per method, against the first numeric
    grid key other than seeds; None when the grid has no such key."""
    axis = next((k for k, values in record["grid"].items() if k != "seeds"
                 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)), None)
    if axis is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unlearn.report.style import styles

    rows = [dict(zip(table.columns(), record)) for record in table.records()]
    by_model: dict[str, dict[float, list[tuple]]] = {}
    for row in rows:
        if row.get("model") in (None, "–", "retrain") or row.get("cost_vs_retrain") is None:
            continue
        x = float(row[axis])
        by_model.setdefault(row["model"], {}).setdefault(x, []).append((row["cost_vs_retrain"],
                                                                        row["verdict"] == "removed"))
    if not by_model:
        return None
    looks = styles(list(by_model))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, points in by_model.items():
        xs = sorted(points)
        look = looks[name]
        costs = [sum(c for c, _ in points[x]) / len(points[x]) for x in xs]
        if min(costs) > 1e-4:  # a method that trains nothing (corpus deletion) has no cost to draw on a log axis
            left.plot(xs, costs, label=name, **look)
        right.plot(xs, [sum(r for _, r in points[x]) / len(points[x]) for x in xs], label=name, **look)
    left.set(xlabel=axis, ylabel="wall time / retrain's", yscale="log", title="cost relative to retrain")
    right.set(xlabel=axis, ylabel="share of runs judged removed", ylim=(-0.05, 1.05), title="verdict")
    right.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
