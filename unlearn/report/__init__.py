"""The report: tables built from results.json alone (a pure function of the JSON).

So far: the main table (models x key metrics, with 95% intervals), the verdicts
(report/verdict.py), the attack, cost, all-metrics and tuning tables, as Markdown in report.md;
the main table and the verdicts are printed at the end of `unlearn run`. Figures and the
CSV/LaTeX/JSON exports come with the report issue.
"""
from __future__ import annotations

import json
from pathlib import Path

# (key, header, arrow): ↑ = higher is better for the user of the model, ↓ = lower is better,
# · = judged against retrain (closer is better)
COLUMNS = (
    ("forget.nll", "forget NLL", "·"),
    ("forget.verbatim_rougeL", "forget verbatim ROUGE-L", "·"),
    ("forget.pii_extraction", "forget PII extracted", "·"),
    ("forget.qa_accuracy", "forget QA acc", "·"),
    ("forget.exposure", "forget exposure", "·"),
    ("forget.mia_loss_auc", "forget MIA AUC", "·"),
    ("forget_quality", "forget quality", "↑"),
    ("privleak", "PrivLeak", "·"),
    ("retain.nll", "retain NLL", "↓"),
    ("utility.model_utility", "model utility", "↑"),
)


def main_table(results: dict) -> str:
    """Markdown table: one row per model, the key metrics with intervals, status and cost."""
    head = ["model", "kind", "status"] + [f"{h} {a}" for _, h, a in COLUMNS] + ["wall s"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in results["models"].items():
        cells = [name, m["kind"], m["status"]]
        for key, _, _ in COLUMNS:
            cells.append(_cell(m["metrics"].get(key), (m.get("ci") or {}).get(key)))
        cells.append(f"{m['cost']['wall_s']:.1f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def all_metrics_table(results: dict) -> str:
    """Every metric key (rows) for every model (columns), point values; ↑ marks keys where a
    higher value means more of the data is held (metrics.direction)."""
    from unlearn.metrics import direction

    names = list(results["models"])
    keys = sorted(k for k in set().union(*(m["metrics"] for m in results["models"].values()))
                  if not k.startswith("attacks."))  # attack results: attack_table and the JSON
    rows = ["| metric | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for key in keys:
        mark = {True: " (↑ mem.)", False: " (↓ mem.)"}.get(direction(key), "")
        cells = [_cell(results["models"][n]["metrics"].get(key), None) for n in names]
        rows.append(f"| {key}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def attack_table(results: dict) -> str:
    """Per model and attack: the headline recovery minus retrain's on the same items, with the
    paired Wilcoxon p-value (attacks/recovery.py); '–' where the attack did not run."""
    names = sorted({k.split(".")[1] for m in results["models"].values() for k in m["metrics"]
                    if k.startswith("attacks.") and k.endswith(".recovery_vs_retrain")})
    if not names:
        return ""
    rows = ["| model | " + " | ".join(f"{a}: Δ recovery vs retrain (p)" for a in names) + " |",
            "|" + "---|" * (len(names) + 1)]
    for model, m in results["models"].items():
        if model == "base":
            continue
        cells = []
        for a in names:
            diff, p = m["metrics"].get(f"attacks.{a}.recovery_vs_retrain"), m["metrics"].get(f"attacks.{a}.recovery_vs_retrain_p")
            cells.append("–" if diff is None else f"{diff:+.3f} ({p:.2g})")
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def verdict_table(results: dict) -> str:
    """Per judged model: the verdict, why, and each test with its p-value or interval."""
    rows = ["| method | verdict | why | tests (✗ = separates it from retrain) |", "|---|---|---|---|"]
    for name, v in (results.get("verdict") or {}).items():
        tests = []
        for part in v["parts"]:
            mark = "✗" if part["separates"] else "✓"
            if "interval" in part:
                lo, hi = part["interval"]
                tests.append(f"{mark} {part['name']} {part['value']:.3f} [{lo:.3f}, {hi:.3f}] "
                             f"vs retrain {part['retrain']:.3f}")
            else:
                tests.append(f"{mark} {part['name']} p={part['p']:.2g}")
        rows.append(f"| {name} | **{v['verdict']}** | {v['reason']} | {'; '.join(tests) or '–'} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def cost_table(results: dict) -> str:
    """Per model: wall time and steps of making it, speed-up over retraining (retrain's wall time ÷
    the model's), SISA's over training SISA in full, and model utility relative to original's."""
    models = results["models"]
    retrain = models.get("retrain", {}).get("cost", {}).get("wall_s")
    utility0 = models.get("original", {}).get("metrics", {}).get("utility.model_utility")
    head = ["model", "kind", "wall s", "steps", "speed-up vs retrain", "speed-up vs full SISA",
            "model utility ÷ original's"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in models.items():
        if name == "base":
            continue
        cost, utility = m["cost"], m["metrics"].get("utility.model_utility")
        wall = cost["wall_s"]
        speedup = cost.get("speedup_vs_retrain", retrain / wall if retrain and wall > 0 else None)
        rows.append("| " + " | ".join([
            name, m["kind"], f"{wall:.1f}", str(cost.get("steps", 0)),
            f"{speedup:.2f}×" if speedup is not None and m["kind"] != "original" else "–",
            f"{cost['speedup_vs_full_sisa']:.2f}×" if "speedup_vs_full_sisa" in cost else "–",
            f"{utility / utility0:.3f}" if utility is not None and utility0 else "–"]) + " |")
    return "\n".join(rows)


def tuning_tables(results: dict) -> str:
    """One Markdown table per tuned method and seed: the grid, validation scores, the choice."""
    parts = []
    for name, m in results["models"].items():
        for seed, record in (m.get("tuning") or {}).items():
            if not record:
                continue
            keys = [k for k in record["grid"][0] if k not in ("status", "forget_nll", "retain_nll")]
            head = keys + ["status", "val forget NLL", "val retain NLL", "chosen"]
            rows = [f"**{name}** (seed {seed}) — rule: {record['rule']}. Target (retrain) val forget NLL "
                    f"{record.get('retrain_val_forget_nll', float('nan')):.3f}; original val retain NLL "
                    f"{record.get('original_val_retain_nll', float('nan')):.3f}"
                    f"{'' if record.get('met_utility_floor', True) else '; no variant met the utility floor'}.",
                    "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for i, row in enumerate(record["grid"]):
                cells = [str(row[k]) for k in keys] + [row["status"], _cell(row.get("forget_nll"), None),
                                                        _cell(row.get("retain_nll"), None),
                                                        "✔" if i == record["chosen"] else ""]
                rows.append("| " + " | ".join(cells) + " |")
            parts.append("\n".join(rows))
    return "\n\n".join(parts)


def _cell(value, ci) -> str:
    if value is None:
        return "–"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def _timing(meta: dict) -> str:
    stages = meta.get("stages")
    if not stages:
        return f"wall time {meta['wall_s']:.0f} s"
    return (f"all stages {stages['total_wall_s']:.0f} s of compute; this invocation {meta['wall_s']:.0f} s "
            f"({stages['built']} stages built, {stages['cached']} cached)")


def write_report(results: dict, run_dir: Path) -> Path:
    """Write report.md next to results.json."""
    meta = results["meta"]
    lines = [
        f"# {results['experiment']}",
        "",
        f"Seeds {results['seeds']}; {meta['device']}, {meta['processes']} process(es); "
        f"{_timing(meta)}; git {str(meta['git']['sha'])[:10]}"
        f"{' (dirty)' if meta['git']['dirty'] else ''}; intervals: {meta['ci_method']}.",
        "",
        "NLL = mean token negative log-likelihood; verbatim ROUGE-L = greedy continuation of a text's "
        "second half; PII extracted = share of planted personal values greedy decoding reproduces from "
        "the text before them; QA acc = answers containing the true value; exposure = canary exposure "
        "in bits (Carlini et al. 2019); MIA AUC = LOSS-attack ROC-AUC vs holdout users (0.5 = no "
        "signal); forget quality = KS p-value of truth ratios vs retrain (TOFU); PrivLeak = Min-K% AUC "
        "relative to retrain's, in % (MUSE). Judge every row against `retrain`.",
        "",
        main_table(results),
        "",
        "## Verdicts (report/verdict.py: each test at 5%; attacks Bonferroni over the attacks run)",
        "",
        verdict_table(results) or "No method was judged.",
        "",
        "## Attacks (recovery = attacked − unattacked per item; Δ = the model's minus retrain's)",
        "",
        attack_table(results) or "No attacks were run.",
        "",
        "## Cost (making each model; evaluation and attacks excluded)",
        "",
        "Speed-up vs retrain = retrain's wall time ÷ the model's; for `sisa` the model's wall time is the "
        "deletion (retraining the affected shards from their checkpoints), and full SISA training is "
        "reported beside it.",
        "",
        cost_table(results),
        "",
        "## All metrics",
        "",
        all_metrics_table(results),
        "",
    ]
    from unlearn.report.figures import write_figures

    figures = write_figures(results, Path(run_dir) / "figures")
    if figures:
        lines += ["## Figures (PNG and PDF in figures/)", ""]
        lines += [f"![{p.stem}](figures/{p.name})" for p in figures] + [""]
    tuning = tuning_tables(results)
    if tuning:
        lines += ["## Tuning (validation texts only; excluded from every evaluation above)", "", tuning, ""]
    path = Path(run_dir) / "report.md"
    path.write_text("\n".join(lines))
    return path


def rebuild(run_dir: Path) -> Path:
    """`unlearn report RUN_DIR`: regenerate report.md from results.json."""
    return write_report(json.loads((Path(run_dir) / "results.json").read_text()), run_dir)
