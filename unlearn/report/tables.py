"""The report's tables as data (`Table`: a header and rows of cells), built from results.json
alone, and rendered as Markdown, CSV or LaTeX (`export` writes every table in every format).

Cells are strings; `**x**` marks a highlighted cell (Markdown bold, LaTeX \\textbf, plain in CSV).
In the main table the approximate method closest to retrain in each column judged against
retrain (·) is highlighted, and for columns where more is better (↑) or less is better (↓) the
best approximate method; exact, reference and base rows are never highlighted.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from unlearn.report import verdict as judging

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


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""

    def markdown(self) -> str:
        if not self.rows:
            return ""
        lines = ["| " + " | ".join(self.head) + " |", "|" + "---|" * len(self.head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in self.rows])

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.head)
        writer.writerows([[c.replace("**", "") for c in r] for r in self.rows])
        return buf.getvalue()

    def latex(self) -> str:
        """A booktabs tabular in a table float (needs \\usepackage{booktabs})."""
        def tex(cell: str) -> str:
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                         ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"), ("·", r"$\cdot$"), ("×", r"$\times$"),
                         ("Δ", r"$\Delta$"), ("÷", r"$\div$"), ("–", "--"), ("✗", r"$\times$"), ("✓", r"\checkmark{}"),
                         ("✔", r"\checkmark{}"), ("★", r"$\star$")):
                cell = cell.replace(a, b)
            if cell.startswith("**") and cell.endswith("**") and len(cell) > 4:
                cell = r"\textbf{" + cell[2:-2] + "}"
            return cell.replace("**", "")
        lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + "l" * len(self.head) + "}",
                 r"\toprule", " & ".join(tex(h) for h in self.head) + r" \\", r"\midrule"]
        lines += [" & ".join(tex(c) for c in r) + r" \\" for r in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}"]
        if self.caption:
            lines.append(r"\caption{" + tex(self.caption) + "}")
        return "\n".join(lines + [r"\end{table}", ""])

    def as_json(self) -> dict:
        return {"caption": self.caption, "columns": self.head, "rows": [[c.replace("**", "") for c in r] for r in self.rows]}


def run_command(meta: dict, run_dir: str) -> str:
    """`unlearn run CONFIG [OVERRIDES] --out RUN_DIR` as recorded in a results.json's meta."""
    config = meta.get("config_path") or "CONFIG"
    return " ".join(["unlearn run", config, *meta.get("overrides", []), "--out", meta.get("run_dir") or run_dir])


def cell(value, ci=None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


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
                  caption="Key metrics with 95% intervals; retrain = the mean of its replicates (the reference), "
                          "retrain_null = one more replicate judged like a method; · judged against retrain (closer "
                          "is better), ↑/↓ higher/lower is better; bold: the best approximate method per column. "
                          "Forget quality: the one-sided KS p-value of per-user truth ratios against the reference "
                          "that the verdict uses (Fisher-combined over seeds).")
    best = {key: _best(models, key, arrow) for key, _, arrow in COLUMNS}
    for name, m in models.items():
        cells = [name, m["kind"], m["status"]]
        for key, _, _ in COLUMNS:
            if key == "forget_quality":  # the p-value the verdict uses: no interval
                p = judging.combined_ks(m)
                text = "–" if p is None else f"{p:.2g}"
                cells.append(f"**{text}**" if best[key] == name else text)
                continue
            text = cell(m["metrics"].get(key), (m.get("ci") or {}).get(key))
            cells.append(f"**{text}**" if best[key] == name else text)
        table.rows.append(cells + [f"{m['cost']['wall_s']:.1f}"])
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
        table.rows.append([key + mark] + [cell(results["models"][n]["metrics"].get(key)) for n in names])
    return table


def attack_table(results: dict) -> Table:
    """Per model and attack: the post-attack level minus the reference's post-attack level (mean
    over seeds), with the verdict's Holm-adjusted p-value where the model is judged; 'failed' where
    the attack raised (failed_attacks has the message), '–' where it did not run."""
    failed = {(model, attack) for model, attack, _, _ in failed_attacks(results)}
    models = results["models"]
    names = sorted({k.split(".")[1] for m in models.values() for k in m["metrics"]
                    if k.startswith("attacks.") and k.endswith(".level")} | {attack for _, attack in failed})
    table = Table(["model"] + [f"{a}: Δ level vs retrain (p adj.)" for a in names],
                  caption="After each attack (its strongest setting), the level of what it recovers minus the retrain "
                          "reference's level after the same attack, on the same items (mean over seeds; higher = "
                          "more of the data); p: the verdict's one-sided test, Holm-adjusted over the model's family.")
    if not names:
        return table
    retrain, verdicts = models.get("retrain"), results.get("verdict") or {}
    for model, m in models.items():
        if model in ("base", "retrain"):
            continue
        cells = []
        for a in names:
            effect = _level_effect(m, retrain, f"attacks.{a}.level") if retrain else None
            part = next((p for p in verdicts.get(model, {}).get("parts", []) if p["key"] == f"attacks.{a}.level"), None)
            p = f" ({part['p_adjusted']:.2g})" if part and part.get("p_adjusted") is not None else ""
            cells.append(("failed" if (model, a) in failed else "–") if effect is None else f"{effect:+.3f}{p}")
        table.rows.append([model] + cells)
    return table


def _level_effect(m: dict, retrain: dict, key: str) -> float | None:
    """Mean over seeds of the model's value minus the reference replicates' mean."""
    mine, ref = judging._values(m, key), judging._replicates(retrain, key)
    diffs = [mine[s] - sum(ref[s]) / len(ref[s]) for s in mine if ref.get(s)]
    return sum(diffs) / len(diffs) if diffs else None


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


def verdict_table(results: dict) -> Table:
    """Per judged model (the null control first): the verdict, per seed, why, and each test in
    the family with its effect, interval, direction and Holm-adjusted p (report/verdict.py)."""
    table = Table(["model", "verdict", "per seed", "why", "tests (✗ separates, ≈ shown equivalent, ? neither)"],
                  caption="Verdict per model against the retrain reference distribution (report/verdict.py): "
                          "effect = the model minus the reference mean, 95% interval; p = Holm-adjusted over the "
                          "model's family; ≈ = within the equivalence margin (TOST). The null control "
                          "(retrain_null, one more retrain replicate) must come out removed.")
    found = results.get("verdict") or {}
    order = sorted(found, key=lambda n: n != "retrain_null")
    for name in order:
        v = found[name]
        tests = [_test_cell(p) for p in v.get("parts", [])]
        word = f"**{v['verdict']}**" + (" (over-unlearned)" if v.get("over_unlearned") else "")
        seeds = ", ".join(f"{s}: {x['verdict']}" for s, x in (v.get("per_seed") or {}).items())
        table.rows.append([name + (" (null control)" if name == "retrain_null" else ""), word, seeds or "–",
                           v["reason"], "; ".join(tests) or "–"])
    return table


def _test_cell(part: dict) -> str:
    """One test of the family: ✗ (separates), ≈ (shown equivalent) or ? with its numbers."""
    if part.get("effect") is None:
        return f"? {part['name']} missing"
    separated = part.get("separates") or part.get("over")
    mark = "✗" if separated else "≈" if part.get("equivalent") else "?"
    p = part.get("p_less_adjusted") if part.get("over") else part.get("p_adjusted")
    interval = part.get("interval")
    span = f" [{interval[0]:+.3g}, {interval[1]:+.3g}]" if interval else ""
    text = f"{mark} {part['name']} {part['effect']:+.3g}{span} ({part['direction']}"
    text += f", p={p:.2g}" if p is not None else ""
    return text + (f", margin ±{part['margin']:.3g})" if "margin" in part else ")")


def reference_table(results: dict) -> Table:
    """The reference distribution and what each measurement can tell: retrain's mean and spread,
    the equivalence margin, the original's effect (its power) and whether it enters the verdicts."""
    settings = judging.settings(results)
    plan = judging.power_plan(results["models"], **settings)
    table = Table(["measurement", "retrain mean", "retrain SD (df)", "margin ±", "original − retrain (p)",
                   "in the verdict"],
                  caption=f"The retrain reference: the replicates' standard deviation pooled over seeds; margin = "
                          f"{settings['margin']:g} standard deviations of a retrain-minus-retrain difference "
                          f"({settings['margin']:g}·√2·SD); a measurement enters the verdicts only if it separates "
                          f"the original from the reference at α/m (α = {settings['alpha']:g}).")
    for row in (plan or {}).get("rows", []):
        o, ref = row.get("original") or {}, [v for vals in row["ref"].values() for v in vals]
        mean = f"{sum(ref) / len(ref):.3g}" if ref and row["channel"] != "distribution" else "–"
        sd = f"{row['sigma']:.3g} ({row['df']})" if row["df"] and row["channel"] != "distribution" else "–"
        margin = f"{settings['margin'] * 2 ** 0.5 * row['sigma']:.3g}" if row["df"] and row["sigma"] > 0 \
            and row["channel"] != "distribution" else "–"
        power = (f"{o['effect']:+.3g} ({o['p']:.2g})" if o.get("effect") is not None else f"({o['p']:.2g})") \
            if o.get("p") is not None else "–"
        table.rows.append([row["name"], mean, sd, margin, power, "yes" if "reason" not in row else row["reason"]])
    return table


def cost_table(results: dict) -> Table:
    """Per model: wall time and steps of making it, speed-up over retraining (retrain's wall time ÷
    the model's), SISA's over training SISA in full, and model utility relative to original's."""
    models = results["models"]
    retrain = models.get("retrain", {}).get("cost", {}).get("wall_s")
    utility0 = models.get("original", {}).get("metrics", {}).get("utility.model_utility")
    table = Table(["model", "kind", "wall s", "steps", "speed-up vs retrain", "speed-up vs full SISA",
                   "model utility ÷ original's"],
                  caption="Cost of making each model (evaluation and attacks excluded); for sisa the deletion.")
    for name, m in models.items():
        if name == "base":
            continue
        cost, utility = m["cost"], m["metrics"].get("utility.model_utility")
        wall = cost["wall_s"]
        speedup = cost.get("speedup_vs_retrain", retrain / wall if retrain and wall > 0 else None)
        table.rows.append([
            name, m["kind"], f"{wall:.1f}", str(cost.get("steps", 0)),
            f"{speedup:.2f}×" if speedup is not None and m["kind"] != "original" else "–",
            f"{cost['speedup_vs_full_sisa']:.2f}×" if "speedup_vs_full_sisa" in cost else "–",
            f"{utility / utility0:.3f}" if utility is not None and utility0 else "–"])
    return table


def tuning_table(results: dict) -> Table:
    """Every tuned method's grid per seed: the variant, its validation scores, the choice."""
    table = Table(["method", "seed", "variant", "status", "val forget NLL", "val retain NLL", "chosen"])
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


TABLES = {"main": main_table, "verdict": verdict_table, "reference": reference_table, "attacks": attack_table,
          "cost": cost_table,
          "tuning": tuning_table, "all_metrics": all_metrics_table}


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
