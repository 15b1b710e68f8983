"""The report (`unlearn report RUN_DIR`): a pure function of results.json.

report.md states the config, seeds, machine and wall time, and embeds the answer to the claim
(report/claim.py), the main, verdict (report/verdict.py), attack, cost, all-metrics and tuning
tables (report/tables.py) and the figures (report/figures.py). Every table is also written as
Markdown, CSV and LaTeX under tables/, with all of them in tables/tables.json. A short summary
(`summary`) is printed at the end of `unlearn run`.
"""
from __future__ import annotations

import json
from pathlib import Path

from unlearn.memory import peak_rss
from unlearn.report import tables
from unlearn.report.claim import answer
from unlearn.report.scaling import provenance, scaling_table
from unlearn.report.tables import COLUMNS  # noqa: F401 (re-exported)


def main_table(results: dict) -> str:
    return tables.main_table(results).markdown()


def verdict_table(results: dict) -> str:
    return tables.verdict_table(results).markdown()


def control_line(results: dict) -> str:
    """The null control's verdict, stated first: the run's verdicts are only as good as it."""
    control = (results.get("verdict") or {}).get("retrain_null")
    if control is None:
        return ("No null control in this run (retrain.null_control: false, or too few retrain replicates): "
                "the verdicts below are not checked against one.")
    words = {s: v["verdict"] for s, v in (control.get("per_seed") or {}).items()}
    ok = control["verdict"] == "removed" and all(w == "removed" for w in words.values())
    seeds = f" (per seed: {', '.join(f'{s} {w}' for s, w in words.items())})" if len(words) > 1 else ""
    return (f"**Null control** (one more retrain replicate, judged like a method): *{control['verdict']}*{seeds}"
            + (". The tests behave as they should on a model that never saw the users." if ok else
               ". It should be removed: the verdicts of this run are not reliable."))


def attack_table(results: dict) -> str:
    return tables.attack_table(results).markdown()


def _failed_attacks(results: dict) -> list[str]:
    """Report lines naming every attack that failed and why (none: no lines)."""
    failed = tables.failed_attacks(results)
    if not failed:
        return []
    return ["Attacks that failed (no numbers; the error is recorded in results.json under the model's `attacks`):", "",
            *[f"- `{model}` {attack} (seed {seed}): {message}" for model, attack, seed, message in failed], ""]


def relearn_calibration_lines(results: dict) -> list[str]:
    """Report lines stating the relearning rate each seed chose on the original and how much every
    candidate raised the original's held-out NLL (none calibrated: no lines)."""
    per_seed = (results["models"].get("original") or {}).get("relearn_calibration") or {}
    per_seed = {s: r for s, r in per_seed.items() if r}
    if not per_seed:
        return []
    tolerance = next(iter(per_seed.values())).get("tolerance", 0.05)
    lines = ["Relearning rate, chosen per seed on the original: the largest candidate that raises the original's NLL "
             f"on held-out objecting users by at most {tolerance:.0%} (protocol b with the halves swapped):", ""]
    for seed, record in per_seed.items():
        tried = ", ".join(f"{c['lr']:g} {c['rise']:+.1%}" + ("" if c["status"] == "ok" else f" ({c['status']})")
                          for c in record["candidates"])
        outcome = "" if record["calibrated"] else f" — {record['message']}; relearning is left out of the verdicts"
        before = record.get("nll_before")
        lines.append(f"- seed {seed}: lr {record['chosen']:g}"
                     + (f" (held-out NLL {before:.3f}; change per rate: {tried})" if before is not None else "")
                     + outcome)
    return lines + [""]


def cost_table(results: dict) -> str:
    return tables.cost_table(results).markdown()


def all_metrics_table(results: dict) -> str:
    return tables.all_metrics_table(results).markdown()


def summary(results: dict) -> str:
    """A terminal-width digest: per model the headline numbers and, for judged methods, the verdict."""
    keys = (("forget.mia_loss_auc", "fgt AUC"), ("forget.pii_extraction", "fgt PII"), ("forget_quality", "fgt qual"),
            ("retain.nll", "ret NLL"), ("utility.model_utility", "utility"))
    lines = [f"{'model':<16}" + "".join(f"{h:>9}" for _, h in keys) + f"{'wall s':>8}  verdict"]
    verdicts = results.get("verdict") or {}
    for name, m in results["models"].items():
        cells = "".join(f"{m['metrics'][k]:>9.3f}" if k in m["metrics"] else f"{'–':>9}" for k, _ in keys)
        lines.append(f"{name:<16}{cells}{m['cost']['wall_s']:>8.1f}  {verdicts.get(name, {}).get('verdict', '')}")
    return "\n".join(lines)


def _timing(meta: dict) -> str:
    stages = meta.get("stages")
    rss, covers = peak_rss(meta)
    memory = "" if rss is None else f"; peak RSS {rss / 1024:.1f} GiB ({covers})"
    if not stages:
        return f"wall time {meta['wall_s']:.0f} s{memory}"
    phase, frontier = meta.get("frontier_stages"), ""
    if phase and "frontier_wall_s" in meta:
        frontier = (f", of which the removal frontier {meta['frontier_wall_s']:.0f} s ({phase['built']} stages built, "
                    f"{phase['cached']} cached; {phase['trainings_built']} of its "
                    f"{phase['trainings_built'] + phase['trainings_cached']} strength runs built)")
    return (f"all stages {stages['total_wall_s']:.0f} s of compute; this invocation {meta['wall_s']:.0f} s "
            f"({stages['built']} stages built, {stages['cached']} cached){frontier}{memory}")


def _run_dir(meta: dict, out: Path, published: bool) -> str:
    return meta.get("run_dir") or ("runs/" + out.name if published else str(out))


def _report_command(meta: dict, out: Path, published: bool) -> str:
    return f"unlearn report {_run_dir(meta, out, published)}" + (f" --publish {out}" if published else "")


def _commands(meta: dict, out: Path, published: bool) -> str:
    """The commands that rerun the experiment and rebuild this report."""
    return (f"Rerun: `{tables.run_command(meta, _run_dir(meta, out, published))}`; rebuild this report from "
            f"results.json: `{_report_command(meta, out, published)}`.")


def write_report(results: dict, run_dir: Path, name: str = "report.md") -> Path:
    """Write `name` (the report), figures/ and tables/ into run_dir."""
    from unlearn.report.figures import write_figures

    run_dir, meta = Path(run_dir), results["meta"]
    config = meta.get("config_path") or "CONFIG"
    seeds = results["seeds"]
    lines = [
        f"# {results['experiment']}",
        "",
        f"Config `{config}`; seeds {seeds}; {meta['device']}, {meta['processes']} process(es); "
        f"{_timing(meta)}; git {str(meta['git']['sha'])[:10]}{' (dirty)' if meta['git']['dirty'] else ''}; "
        f"intervals: {meta['ci_method']}. {_commands(meta, run_dir, name == 'README.md')}",
        "",
        answer(results),
        "",
        "NLL = mean token negative log-likelihood; verbatim ROUGE-L = greedy continuation of a text's "
        "second half; PII extracted = share of planted personal values greedy decoding reproduces from "
        "the text before them; QA acc = questions about a user, asked in the assistant template, answered with the true value; exposure = canary exposure "
        "in bits (Carlini et al. 2019); MIA AUC = LOSS-attack ROC-AUC vs holdout users (0.5 = no "
        "signal); forget quality = KS p-value of truth ratios vs retrain (TOFU); PrivLeak = Min-K% AUC "
        "relative to retrain's, in % (MUSE). Judge every row against `retrain`; bold = the best "
        "approximate method per column.",
        "",
        main_table(results),
        "",
        "## Verdicts (report/verdict.py: each model against the retrain reference distribution; one "
        "Holm-corrected family of tests per model; removed = shown equivalent within the margin)",
        "",
        control_line(results),
        "",
        verdict_table(results) or "No method was judged.",
        "",
        "The reference and what each measurement can tell (a measurement without power on the original "
        "is left out of every verdict):",
        "",
        tables.reference_table(results).markdown() or "No retrain reference in these results.",
        "",
        "## What the chatbot says about the objecting users",
        "",
        tables.chatbot_table(results).markdown() or "No questions were asked in this run (no QA table).",
        "",
        tables.chatbot_kinds_table(results).markdown(),
        "",
        "## Attacks (post-attack level minus the retrain reference's after the same attack)",
        "",
        attack_table(results) or "No attacks were run.",
        "",
        *_failed_attacks(results),
        *relearn_calibration_lines(results),
        "## Cost (making each model; evaluation and attacks excluded)",
        "",
        "Speed-up vs retrain = retrain's wall time ÷ the model's; for `sisa` the model's wall time is the "
        "deletion (retraining the affected shards from their checkpoints), and full SISA training is "
        "reported beside it.",
        "",
        cost_table(results),
        "",
    ]
    scaling = scaling_table(results, run_dir)
    if scaling.rows:
        lines += ["## Scalability (the same experiment at other forget fractions, from scaling/*.json)", "",
                  scaling.caption, "", scaling.markdown(), "",
                  *provenance(results, run_dir, _report_command(meta, run_dir, name == "README.md")), ""]
    figures = write_figures(results, run_dir / "figures")
    if figures:
        lines += ["## Figures (PNG and PDF in figures/)", ""]
        lines += [f"![{p.stem}](figures/{p.name})" for p in figures] + [""]
    frontier = tables.frontier_table(results)
    if frontier.rows:
        lines += ["## Removal frontier (each method at growing strength against the retrain reference)", "",
                  frontier.caption, "", frontier.markdown(), ""]
    tuning = tables.tuning_table(results)
    if tuning.rows:
        lines += ["## Tuning (validation texts only; excluded from every evaluation above)", "",
                  tuning.caption, "", tuning.markdown(), ""]
    lines += ["## All metrics", "", all_metrics_table(results), "",
              "Every table is also in tables/ as Markdown, CSV and LaTeX (booktabs), and in tables/tables.json.", ""]
    tables.export(results, run_dir / "tables", {"scaling": scaling})
    path = run_dir / name
    path.write_text("\n".join(lines))
    return path


RESULTS_KEYS = {"models": dict, "seeds": list, "meta": dict}  # what the report reads at the top level


def read_results(run_dir: Path) -> dict:
    """RUN_DIR/results.json, checked: valid JSON with the top-level keys the report reads; else a
    ConfigError naming the file and how to get a good one (rerun the experiment into that folder)."""
    from unlearn.config_parse import ConfigError

    path = run_dir / "results.json"
    again = f"rerun `unlearn run CONFIG --out {run_dir}` to write it again (finished stages are reused)"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); {again}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                          f"{again}") from None
    if not isinstance(results, dict):
        raise ConfigError(f"{path}: the top level must be a JSON object, got {type(results).__name__}; {again}")
    missing = [key for key in RESULTS_KEYS if key not in results]
    if missing:
        raise ConfigError(f"{path}: missing top-level key(s) {', '.join(missing)} (not written by `unlearn run`, "
                          f"or damaged); {again}")
    for key, kind in RESULTS_KEYS.items():
        if not isinstance(results[key], kind):
            raise ConfigError(f"{path}: '{key}' must be a JSON {'object' if kind is dict else 'array'}, got "
                              f"{type(results[key]).__name__}; {again}")
    bad = [name for name, entry in results["models"].items() if not isinstance(entry, dict)]
    if bad:
        raise ConfigError(f"{path}: models {', '.join(bad)} are not JSON objects; {again}")
    return results


def rebuild(run_dir: Path, publish: Path | None = None, scaling: list[Path] = ()) -> Path:
    """`unlearn report RUN_DIR [--publish DIR] [--scaling RUN ...]`: regenerate the report,
    figures/ and tables/ from results.json (and scaling/*.json), the verdicts recomputed from the
    models' numbers (and stored back if they changed); with `publish`, into DIR as README.md next
    to a copy of results.json and scaling/; `scaling` runs are copied into scaling/ first."""
    from unlearn.report import scaling as scaling_runs
    from unlearn.report.verdict import attack_power, settings, verdicts
    from unlearn.stages import write_json_atomic

    results = read_results(Path(run_dir))
    fresh = verdicts(results["models"], **settings(results))
    power = attack_power(results["models"], **settings(results))
    out = Path(publish) if publish else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    carried = sorted((Path(run_dir) / scaling_runs.FOLDER).glob("forget-*.json"))
    if out.resolve() != Path(run_dir).resolve() and carried:
        scaling_runs.store(out, results, carried)
    scaling_runs.store(out, results, list(scaling))
    if fresh != results.get("verdict") or power != results.get("attack_power") or out != Path(run_dir):
        results["verdict"], results["attack_power"] = fresh, power
        write_json_atomic(out / "results.json", results)
    return write_report(results, out, "README.md" if publish else "report.md")
