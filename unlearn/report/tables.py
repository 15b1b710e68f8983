"""The report's tables as data (`Table`, report/table.py: a header and rows of cells), built from
results.json alone, and rendered as Markdown, CSV or LaTeX (`export` writes every table in every
format). The tables that read the verdicts are in report/verdict_tables.py.

Cells are strings; `**x**` marks a highlighted cell (Markdown bold, LaTeX \\textbf, plain in CSV).
Cells that show numbers are `Value`s (report/table.py): CSV and JSON carry the numbers themselves,
a metric with its interval as `<key>`, `<key>_lo`, `<key>_hi`.
In the main table the approximate method closest to retrain in each column judged against
retrain (·) is highlighted, and for columns where more is better (↑) or less is better (↓) the
best approximate method; exact, reference and base rows are never highlighted.
"""
from __future__ import annotations

import json
from pathlib import Path

from unlearn.report import verdict as judging
from unlearn.report.table import Table, Value, bold, cell, number  # noqa: F401 (re-exported)
from unlearn.report.verdict_tables import attack_table, reference_table, verdict_table

# (key, header, arrow): ↑ = higher is better for the user of the model, ↓ = lower is better,
# · = judged against retrain (closer is better)
COLUMNS = (
    ("forget.nll", "forget NLL", "·"),
    ("forget.verbatim_rougeL", "forget verbatim ROUGE-L", "·"),
    ("forget.pii_extraction", "forget PII extracted", "·"),
    ("forget.qa_accuracy", "forget QA acc", "·"),
    ("forget.exposure", "forget exposure", "·"),
    ("forget.mia_loss_auc", "forget MIA AUC", "·"),
    ("forget_quality", "forget quality (KS p)", "↑"),
    ("privleak", "PrivLeak", "·"),
    ("retain.nll", "retain NLL", "↓"),
    ("utility.model_utility", "model utility", "↑"),
)


def run_command(meta: dict, run_dir: str) -> str:
    """`unlearn run CONFIG [OVERRIDES] --out RUN_DIR` as recorded in a results.json's meta."""
    config = meta.get("config_path") or "CONFIG"
    return " ".join(["unlearn run", config, *meta.get("overrides", []), "--out", meta.get("run_dir") or run_dir])


def _best(models: dict, key: str, arrow: str) -> str | None:
    """The approximate method to highlight in a main-table column (module docstring)."""
    values = {n: m["metrics"][key] for n, m in models.items() if m["kind"] == "approximate" and key in m["metrics"]}
    if key == "forget_quality":  # the column shows the verdict's combined p
        values = {n: judging.combined_ks(models[n]) for n in values}
    target = models.get("retrain", {}).get("metrics", {}).get(key)
    if not values or (arrow == "·" and target is None):
        return None
    if arrow == "·":
        return min(values, key=lambda n: abs(values[n] - target))
    return (max if arrow == "↑" else min)(values, key=values.get)


def main_table(results: dict) -> Table:
    """One row per model: the key metrics with their 95% intervals, status and wall time."""
    models = results["models"]
    table = Table(["model", "kind", "status"] + [f"{h} {a}" for _, h, a in COLUMNS] + ["wall s"],
                  keys=["model", "kind", "status"] + [key for key, _, _ in COLUMNS] + ["wall_s"],
                  caption="Key metrics with 95% intervals; retrain = the mean of its replicates (the reference), "
                          "retrain_null = one more replicate judged like a method; · judged against retrain (closer "
                          "is better), ↑/↓ higher/lower is better; bold: the best approximate method per column. "
                          "Forget quality: the one-sided KS p-value of per-user truth ratios against the reference "
                          "that the verdict uses (Fisher-combined over seeds).")
    best = {key: _best(models, key, arrow) for key, _, arrow in COLUMNS}
    for name, m in models.items():
        cells = [name, m["kind"], m["status"]]
        for key, _, _ in COLUMNS:
            if key == "forget_quality":  # the p-value the verdict uses (none for the reference itself)
                p = judging.combined_ks(m) if m["kind"] != "retrain" else None
                text = number(p, "–" if p is None else f"{p:.2g}")
                cells.append(bold(text) if best[key] == name else text)
                continue
            text = cell(m["metrics"].get(key), (m.get("ci") or {}).get(key))
            cells.append(bold(text) if best[key] == name else text)
        table.rows.append(cells + [number(m["cost"]["wall_s"], f"{m['cost']['wall_s']:.1f}")])
    return table


CHATBOT = (("forget.qa_accuracy", "correct"), ("forget.qa_fabricated", "fabricated"),
           ("forget.qa_refused", "refused"), ("forget.qa_other", "other"))
CHATBOT_BESIDE = (("holdout.qa_accuracy", "never seen: correct"), ("holdout.qa_fabricated", "never seen: fabricated"),
                  ("retain.qa_accuracy", "other users: correct"), ("qa_train.qa_accuracy", "trained QA: correct"))


def chatbot_table(results: dict) -> Table:
    """What the chatbot says about the objecting users: per model, the share of the forget users'
    questions answered correctly, with an invented value (fabricated), refused, or otherwise;
    beside it the same model on users it never saw (holdout), on non-objecting users whose
    questions it was not trained on (retain), and on those it was (trained QA)."""
    models = results["models"]
    if not any("forget.qa_accuracy" in m["metrics"] for m in models.values()):
        return Table([])
    table = Table(["model", "kind"] + [f"objecting users: {h}" for _, h in CHATBOT] + [h for _, h in CHATBOT_BESIDE],
                  keys=["model", "kind"] + [k for k, _ in CHATBOT + CHATBOT_BESIDE],
                  caption="What the chatbot says about the objecting users: each question about a fact the user "
                          "stated (and no other member did) asked in the assistant template, the greedy answer "
                          "classified as correct, fabricated (a well-formed value of the asked kind that is not the "
                          "true one: invented personal data), refused, or other; shares with 95% intervals over "
                          "users. Beside it: users the model never saw, non-objecting users whose questions were "
                          "not in the QA training set, and those whose were (trained QA).")
    for name, m in models.items():
        if name == "base" or "forget.qa_accuracy" not in m["metrics"]:
            continue
        ci = m.get("ci") or {}
        table.rows.append([name, m["kind"]] + [cell(m["metrics"].get(k), ci.get(k)) for k, _ in CHATBOT + CHATBOT_BESIDE])
    return table


def chatbot_kinds_table(results: dict) -> Table:
    """Per fact kind: the objecting users' facts the original and retrain state correctly, and the
    share of questions about never-seen users the original answers with an invented value."""
    models = results["models"]
    get = lambda name, key: models.get(name, {}).get("metrics", {}).get(key)  # noqa: E731
    kinds = sorted({k.split("_k_", 1)[1] for m in models.values() for k in m["metrics"]
                    if k.startswith("forget.qa_accuracy_k_")})
    table = Table(["fact", "original: correct", "retrain: correct", "original, never-seen users: fabricated"],
                  keys=["fact", "original.forget.qa_accuracy", "retrain.forget.qa_accuracy",
                        "original.holdout.qa_fabricated"],
                  caption="What the chatbot says about the objecting users, per fact kind (mean over seeds): their "
                          "questions answered with the true value by the original and by retrain, and the share of "
                          "questions about users the model never saw (holdout) that the original answers with an "
                          "invented value of that kind.")
    for kind in kinds:
        table.rows.append([kind, cell(get("original", f"forget.qa_accuracy_k_{kind}")),
                           cell(get("retrain", f"forget.qa_accuracy_k_{kind}")),
                           cell(get("original", f"holdout.qa_fabricated_k_{kind}"))])
    return table


def all_metrics_table(results: dict) -> Table:
    """Every metric key (rows) for every model (columns), point values; (↑ mem.) marks keys where
    a higher value means more of the data is held (metrics.direction)."""
    from unlearn.metrics import direction

    names = list(results["models"])
    keys = sorted(k for k in set().union(*(m["metrics"] for m in results["models"].values()))
                  if not k.startswith("attacks."))  # attack results: attack_table and the JSON
    table = Table(["metric"] + names, caption="Every metric, point values (mean over seeds).")
    for key in keys:
        mark = {True: " (↑ mem.)", False: " (↓ mem.)"}.get(direction(key), "")
        table.rows.append([Value(key + mark, (("", key), ("_higher_is_memorized", direction(key))))]
                          + [cell(results["models"][n]["metrics"].get(key)) for n in names])
    return table


def failed_attacks(results: dict) -> list[tuple[str, str, str, str]]:
    """(model, attack, seed, message) of every attack that raised: the run records it and goes on
    (attacks/stage.py), and the report must say so rather than leave a silent gap."""
    out = []
    for model, m in results["models"].items():
        for seed, log in (m.get("attacks") or {}).items():
            for attack, record in (log or {}).items():
                if record.get("status") == "failed":
                    out.append((model, attack, str(seed), record.get("message", "")))
    return out


def cost_table(results: dict) -> Table:
    """Per model: wall time and steps of making it, speed-up over retraining (retrain's wall time ÷
    the model's), its compute (floating-point operations counted by the code, unlearn/flops.py)
    as a share of retrain's, which machine load cannot move, SISA's speed-up over training SISA in
    full, and model utility relative to original's."""
    models = results["models"]
    retrain = models.get("retrain", {}).get("cost", {}).get("wall_s")
    retrain_flops = models.get("retrain", {}).get("cost", {}).get("flops")
    utility0 = models.get("original", {}).get("metrics", {}).get("utility.model_utility")
    table = Table(["model", "kind", "wall s", "steps", "speed-up vs retrain", "compute ÷ retrain's",
                   "speed-up vs full SISA", "model utility ÷ original's"],
                  keys=["model", "kind", "wall_s", "steps", "speedup_vs_retrain", "flops_vs_retrain",
                        "speedup_vs_full_sisa", "utility_vs_original"],
                  caption="Cost of making each model (evaluation and attacks excluded); for sisa the deletion. "
                          "Compute: floating-point operations counted by the code (2N a token forward, 2N + "
                          "2N_trainable backward; Kaplan et al. 2020), the same on any machine and under any load.")
    for name, m in models.items():
        if name == "base":
            continue
        cost, utility = m["cost"], m["metrics"].get("utility.model_utility")
        wall, sisa = cost["wall_s"], cost.get("speedup_vs_full_sisa")
        speedup = cost.get("speedup_vs_retrain", retrain / wall if retrain and wall > 0 else None)
        speedup = speedup if m["kind"] != "original" else None
        share = utility / utility0 if utility is not None and utility0 else None
        flops = cost.get("flops")
        compute = flops / retrain_flops if flops is not None and retrain_flops and m["kind"] != "original" else None
        table.rows.append([
            name, m["kind"], number(wall, f"{wall:.1f}"), number(cost.get("steps", 0), str(cost.get("steps", 0))),
            number(speedup, "–" if speedup is None else f"{speedup:.2f}×"),
            number(compute, "–" if compute is None else f"{compute:.3g}"),
            number(sisa, "–" if sisa is None else f"{sisa:.2f}×"),
            number(share, "–" if share is None else f"{share:.3f}")])
    return table


def tuning_table(results: dict) -> Table:
    """Every tuned method's grid per seed: the variant, its validation scores, the choice."""
    table = Table(["method", "seed", "variant", "status", "val forget NLL", "val retain NLL", "chosen"],
                  keys=["method", "seed", "variant", "status", "val_forget_nll", "val_retain_nll", "chosen"])
    rules = set()
    for name, m in results["models"].items():
        for seed, record in (m.get("tuning") or {}).items():
            if not record:
                continue
            rules.add(record["rule"])
            for i, row in enumerate(record["grid"]):
                variant = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("status", "forget_nll", "retain_nll"))
                table.rows.append([name, str(seed), variant, row["status"], cell(row.get("forget_nll")),
                                   cell(row.get("retain_nll")), "✔" if i == record["chosen"] else ""])
    table.caption = "Tuning on validation texts only (excluded from every evaluation); rule: " + "; ".join(sorted(rules))
    return table


def frontier_table(results: dict) -> Table:
    """Per method, the cheapest point no plain test tells from the retrain reference (frontier.py),
    or where and why its walk stopped."""
    table = Table(["method", "strength axis", "points judged", "stopped by", "first indistinguishable (× own steps)",
                   "steps per seed", "utility vs retrain", "cost vs retrain", "verdict there", "last point separated by"],
                  keys=["method", "strength_axis", "points_judged", "stopped_by", "first_indistinguishable_strength",
                        "steps_per_seed", "utility_vs_retrain", "cost_vs_retrain", "verdict", "last_separated_by"])
    for name, f in (results.get("frontier") or {}).items():
        first, points = f.get("first_indistinguishable"), f.get("points") or []
        last = points[-1] if points else {}
        why = f["stopped_by"] + (f": {f['collapse']}" if f.get("collapse") else "")
        table.rows.append([name, f.get("strength", ""), number(len(points), str(len(points))), why,
                           number(first["strength"], f"{first['strength']:g}") if first else number(None, "none"),
                           ", ".join(str(v) for v in first["steps"].values()) if first else "",
                           cell(first["utility_vs_retrain"]) if first else "",
                           cell(first["cost_vs_retrain"]) if first else "",
                           first.get("verdict") or "" if first else "",
                           ", ".join(last.get("separated_by") or []) if not first else ""])
    table.caption = ("Cheapest indistinguishable point: each method's steps grow until no plain test separates it "
                     "from the retrain reference, or utility collapses; utility and cost are relative to retrain's")
    return table


TABLES = {"main": main_table, "verdict": verdict_table, "reference": reference_table, "attacks": attack_table,
          "chatbot": chatbot_table, "chatbot_kinds": chatbot_kinds_table, "cost": cost_table,
          "tuning": tuning_table, "frontier": frontier_table, "all_metrics": all_metrics_table}


def export(results: dict, out: Path, extra: dict | None = None) -> list[Path]:
    """Every non-empty table (TABLES built from results, then the `extra` name -> Table ones) as
    out/<name>.md, .csv and .tex, and all of them in out/tables.json."""
    out.mkdir(parents=True, exist_ok=True)
    written, as_json = [], {}
    built = {name: build(results) for name, build in TABLES.items()}
    for name, table in {**built, **(extra or {})}.items():
        if not table.rows:
            continue
        for ext, text in (("md", table.markdown() + "\n"), ("csv", table.csv()), ("tex", table.latex())):
            (out / f"{name}.{ext}").write_text(text)
            written.append(out / f"{name}.{ext}")
        as_json[name] = table.as_json()
    (out / "tables.json").write_text(json.dumps(as_json, indent=1, ensure_ascii=False) + "\n")
    return written + [out / "tables.json"]
