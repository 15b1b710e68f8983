"""The report's tables that read the verdicts (report/verdict.py): the verdict table, the
reference table (retrain's spread, the margins, each measurement's power) and the attack table
(post-attack levels against the reference's)."""
from __future__ import annotations

from unlearn.report import verdict as judging
from unlearn.report.verdict_inputs import replicate_values, seed_values
from unlearn.report.table import Table, Value, number


def verdict_table(results: dict) -> Table:
    """Per judged model (the null control first): the verdict, per seed, why, and each test in
    the family with its effect, interval, direction and Holm-adjusted p (report/verdict.py)."""
    table = Table(["model", "verdict", "per seed", "why", "tests (✗ separates, ≈ shown equivalent, ? neither)"],
                  keys=["model", "verdict", "per_seed", "why", "tests"],
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
        table.rows.append([Value(name + (" (null control)" if name == "retrain_null" else ""), (("", name),)),
                           Value(word, (("", v["verdict"]), ("_over_unlearned", bool(v.get("over_unlearned"))))),
                           seeds or "–",
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
    text += f", {part['users']:.0f} users" if "users" in part else ""
    text += f", p={p:.2g}" if p is not None else ""
    return text + (f", margin ±{part['margin']:.3g})" if "margin" in part else ")")


def reference_table(results: dict) -> Table:
    """The reference distribution and what each measurement can tell: retrain's mean and spread,
    the equivalence margin, the original's effect (its power) and whether it enters the verdicts."""
    settings = judging.settings(results)
    plan = judging.power_plan(results["models"], **settings)
    table = Table(["measurement", "retrain mean", "retrain SD (df)", "margin ±", "original − retrain (p)",
                   "in the verdict"],
                  keys=["measurement", "retrain_mean", "retrain_sd", "margin", "original_minus_retrain", "in_the_verdict"],
                  caption=f"The retrain reference: the replicates' standard deviation pooled over seeds; margin = "
                          f"{settings['margin']:g} standard deviations of a retrain-minus-retrain difference "
                          f"({settings['margin']:g}·√2·SD); a measurement enters the verdicts only if it separates "
                          f"the original from the reference at α/m (α = {settings['alpha']:g}).")
    for row in (plan or {}).get("rows", []):
        o, ref = row.get("original") or {}, [v for vals in row["ref"].values() for v in vals]
        plain = row["channel"] != "distribution"
        mean = sum(ref) / len(ref) if ref and plain else None
        sd = (row["sigma"], row["df"]) if row["df"] and plain else (None, None)
        margin = settings["margin"] * 2 ** 0.5 * row["sigma"] if row["df"] and row["sigma"] > 0 and plain else None
        effect, p = o.get("effect"), o.get("p")
        power = (f"{effect:+.3g} ({p:.2g})" if effect is not None else f"({p:.2g})") if p is not None else "–"
        table.rows.append([row["name"], number(mean, "–" if mean is None else f"{mean:.3g}"),
                           number(sd[0], "–" if sd[0] is None else f"{sd[0]:.3g} ({sd[1]})", df=sd[1]),
                           number(margin, "–" if margin is None else f"{margin:.3g}"),
                           number(effect if p is not None else None, power, p=p),
                           "yes" if "reason" not in row else row["reason"]])
    return table


def attack_table(results: dict) -> Table:
    """Per model and attack: the post-attack level minus the reference's post-attack level (mean
    over seeds), with the verdict's Holm-adjusted p-value where the model is judged; 'failed' where
    the attack raised (failed_attacks has the message), '–' where it did not run."""
    from unlearn.report.tables import failed_attacks

    failed = {(model, attack) for model, attack, _, _ in failed_attacks(results)}
    models = results["models"]
    names = sorted({k.split(".")[1] for m in models.values() for k in m["metrics"]
                    if k.startswith("attacks.") and k.endswith(".level")} | {attack for _, attack in failed})
    table = Table(["model"] + [f"{a}: Δ level vs retrain (p adj.)" for a in names],
                  keys=["model"] + [f"{a}.level_vs_retrain" for a in names],
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
            p = part.get("p_adjusted") if part else None
            text = ("failed" if (model, a) in failed else "–") if effect is None else \
                f"{effect:+.3f}" + (f" ({p:.2g})" if p is not None else "")
            cells.append(number(effect, text, p_adjusted=p))
        table.rows.append([model] + cells)
    return table


def _level_effect(m: dict, retrain: dict, key: str) -> float | None:
    """Mean over seeds of the model's value minus the reference replicates' mean."""
    mine, ref = seed_values(m, key), replicate_values(retrain, key)
    diffs = [mine[s] - sum(ref[s]) / len(ref[s]) for s in mine if ref.get(s)]
    return sum(diffs) / len(diffs) if diffs else None
