"""The scalability table: one experiment run at several forget fractions.

`unlearn report RUN_DIR --scaling OTHER_RUN ...` copies each other run's results.json into the
report's folder as scaling/forget-<fraction>.json, so that the table rebuilds from JSON files
alone (a published folder carries them); every report reads all of scaling/*.json.

Per forget fraction (the main run's included) and model (retrain, the exact methods and every
judged method): objecting users, the verdict, forget MIA AUC, forget quality, model utility, the
wall time of making the model, and that wall time as a fraction of the same fraction's retrain.
Objecting users are computed from the config with the generator's own counting rule
(corpus/generate.py `holdout_count`, `objector_count`); '–' for a user's own corpus. The runs
should differ only in data.forget_fraction (and seeds): the caption names every other config
key on which they differ.
"""
from __future__ import annotations

import json
from pathlib import Path

from unlearn.config_parse import ConfigError
from unlearn.memory import peak_rss
from unlearn.report.tables import Table, cell, number, run_command

FOLDER = "scaling"


class ScalingError(ConfigError):
    """A --scaling run that cannot go in the table (named, with what to do)."""


def _fraction(results: dict) -> float:
    return float(results["meta"]["config"]["data"]["forget_fraction"])


def store(out: Path, main: dict, others: list[Path]) -> list[Path]:
    """Copy each other run's results.json to out/scaling/forget-<fraction>.json."""
    from unlearn.stages import write_json_atomic

    if not others:
        return []
    seen = {_fraction(main): "the main run"}
    loaded = []
    for run in others:
        path = Path(run) / "results.json" if Path(run).is_dir() else Path(run)
        if not path.is_file():
            raise ScalingError(f"{path}: no results.json here; run `unlearn run CONFIG "
                               f"data.forget_fraction=F --out {run}` first")
        results = json.loads(path.read_text())
        if "config" not in results.get("meta", {}):
            raise ScalingError(f"{path}: meta.config is missing (a results.json of an older version); rerun it")
        fraction = _fraction(results)
        if fraction in seen:
            raise ScalingError(f"{path}: forget_fraction {fraction:g} is already in the table ({seen[fraction]}); "
                               "give each fraction once")
        seen[fraction] = str(path)
        loaded.append((fraction, results))
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fraction, results in loaded:
        written.append(folder / f"forget-{fraction:g}.json")
        write_json_atomic(written[-1], results)
    return written


def collect(main: dict, out: Path) -> list[tuple[float, dict]]:
    """The main run and every out/scaling/*.json, by forget fraction (empty without any)."""
    others = [json.loads(p.read_text()) for p in sorted((out / FOLDER).glob("forget-*.json"))]
    if not others:
        return []
    runs = {_fraction(r): r for r in others}
    runs[_fraction(main)] = main
    return sorted(runs.items())


def objectors(config: dict) -> int | None:
    """Objecting users the synthetic generator picks for this config (None for an own corpus)."""
    data = config["data"]
    if data.get("source", "synthetic") != "synthetic" or data.get("forget_users"):
        return None
    from unlearn.corpus.generate import holdout_count, objector_count

    members = data["n_users"] - holdout_count(data["n_users"], data["holdout_fraction"])
    return objector_count(members, data["forget_fraction"], data.get("objection_rounds", 1))


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(runs: list[tuple[float, dict]]) -> list[str]:
    """Config keys (besides data.forget_fraction and seeds) on which the runs differ."""
    flats = [_flat(r["meta"]["config"]) for _, r in runs]
    keys = set().union(*flats) - {"data.forget_fraction", "seeds"}
    return sorted(k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1)


def scaling_table(main: dict, out: Path) -> Table:
    """The table (module docstring); no rows unless out/scaling holds another run."""
    runs = collect(main, out)
    table = Table(["forget fraction", "objectors", "model", "verdict", "forget MIA AUC", "forget quality",
                   "model utility", "wall s", "÷ retrain's wall"],
                  keys=["forget_fraction", "objectors", "model", "verdict", "forget.mia_loss_auc", "forget_quality",
                        "utility.model_utility", "wall_s", "wall_vs_retrain"])
    if not runs:
        return table
    from unlearn.report.verdict import settings, verdicts

    for fraction, results in runs:
        models = results["models"]
        verdict = verdicts(models, **settings(results))  # from the numbers, as for the main run
        retrain = models.get("retrain", {}).get("cost", {}).get("wall_s")
        n = objectors(results["meta"]["config"])
        for name, m in models.items():
            if m["kind"] not in ("retrain", "exact") and name not in verdict:
                continue
            wall = m["cost"]["wall_s"]
            share = wall / retrain if retrain and m["kind"] != "retrain" else None
            table.rows.append([number(fraction, f"{fraction:g}"), number(n, "–" if n is None else str(n)), name,
                               verdict.get(name, {}).get("verdict", "–") if m["status"] == "ok" else m["status"],
                               *(cell(m["metrics"].get(k)) for k in ("forget.mia_loss_auc", "forget_quality",
                                                                      "utility.model_utility")),
                               number(wall, f"{wall:.1f}"), number(share, "–" if share is None else f"{share:.3f}")])
    seeds = {f"{f:g}": r["seeds"] for f, r in runs}
    differ = differences(runs)
    table.caption = ("The same experiment at each forget fraction (mean over seeds " + str(seeds) + "); wall s = making "
                     "the model (for sisa the deletion); ÷ retrain's wall: the same fraction's retrain. With few "
                     "objecting users the forget split holds few texts, so each test there has little power: "
                     "expect inconclusive verdicts. "
                     + ("The runs also differ in: " + ", ".join(differ) + "." if differ
                        else "The runs differ in nothing else."))
    return table


def provenance(main: dict, out: Path, report_command: str) -> list[str]:
    """One line per other forget fraction: the command that reruns it, its commit, wall time, peak
    memory and machine (the main run's are in the report's header); then `report_command` (this
    report's rebuild) with the --scaling runs that put them into a fresh report."""
    lines, dirs = [], []
    for fraction, results in collect(main, out):
        if results is main:
            continue
        meta = results["meta"]
        dirs.append(meta.get("run_dir") or "RUN")
        git = str(meta["git"]["sha"])[:10] + (" (dirty)" if meta["git"]["dirty"] else "")
        rss, covers = peak_rss(meta)
        lines.append(f"- forget {fraction:g}: `{run_command(meta, 'RUN')}`; git {git}; {meta['device']}, "
                     f"{meta['processes']} process(es); {meta['wall_s'] / 60:.1f} min"
                     + ("" if rss is None else f", peak RSS {rss / 1024:.1f} GiB ({covers})"))
    if lines:
        lines += ["", f"From fresh runs, the report with this table: `{report_command} --scaling {' '.join(dirs)}` "
                  "(the runs' results.json files are copied into scaling/, where a later `unlearn report` finds them)."]
    return lines
