"""Verdicts per model, from results.json alone: each judged model (the approximate methods, corpus
deletion, and the null control) against the retrain reference distribution.

The reference. Per seed s, K retrain models (`models.retrain.replicates`: the original's recipe
on the retain users, differing only in their training seed) give every measurement j the values
r_s1..r_sK. Their spread is retrain's own noise, pooled over seeds (same recipe):
σ̂² = Σ_s Σ_k (r_sk − r̄_s)² / df, df = Σ_s (K_s − 1). A model's value x_s is compared with r̄_s on
the same users, d = mean_s (x_s − r̄_s): seeds combine by their mean effect, so a seed pointing the
other way counts against separation, never for it.

Measurements (forget side; `metrics.direction` says whether a higher value means more memorized):
the plain metrics in PLAIN, and per attack the *post-attack level* of the array its recovery is
judged on, at its strongest setting (`attacks.<a>.level`), compared with the reference models'
post-attack levels under the same attack (levels, not increments from different starting points).
Forget quality (TOFU, arXiv 2401.06121) adds a distribution test: per seed the one-sided KS test
of the model's per-user truth ratios against the reference's (users are the unit; its effective
n is the number of users asked, metrics/relative.py), combined over seeds by Fisher's method.

Separation (could the model be one more retrain draw?): under that null d ~ N(0, σ²·Σ_s(1 + 1/K_s)/S²),
so t = d/ŝe is Student t with df degrees of freedom (a prediction test), one-sided p in the
memorized direction and in the other (over-unlearning). Every test of a model (both directions of
each plain measurement, each attack, the KS) forms one family, Holm-corrected at α (Holm 1979).

Power: a measurement enters the family only if it separates the *original* model from the
reference at α/m (m = the family's size with every candidate in) and the original lies outside its
equivalence margin (else the original itself could be shown equivalent on it); one that cannot
(no spread among the replicates, or too little signal) is listed with its reason and left out.
So is relearning when it makes the original worse at the held-out forget part it should bring
back (`miscalibrated`: its learning rate is too high for the model). `attack_power` lists every
attack's power and whether it entered (results.json's `attack_power`).

Equivalence (TOST, Schuirmann 1987): margin Δ = margin·√2·σ — `margin` standard deviations of the
difference between two retrain models, stated per measurement in the report. H0: |x − μ_ref| ≥ Δ,
the model's value taken as measured and the reference means' uncertainty σ²·Σ_s(1/K_s)/S² as the
error. σ̂ estimates margin and error alike, so t = d/ŝe is noncentral t at the margin (Wellek 2010,
"Testing statistical hypotheses of equivalence", the t-test with a margin in SD units):
p = P(|T(df, ψ)| ≤ |t|), ψ = margin·√2·S/√(Σ_s 1/K_s). "removed" needs every measurement in the
family shown equivalent: an intersection-union test, of level α without correction (Berger 1982).

Verdict: `not removed` — a plain test separates in the memorized direction; `suppressed` — only an
attack does; `removed` — none does and every measurement, plain and attacked, is shown equivalent;
`inconclusive` — otherwise, with the minimum detectable effect of each unresolved measurement
(80% power at the family's strictest level). `over_unlearned` flags a plain separation in the
other direction: the model holds *less* than retrain (which counts as not more, for removal), and
that itself tells an observer who objected. Exact methods
(SISA) are removed by construction (`unlearn sisa-check` proves the deletion) and not tested.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from unlearn.attacks import RECOVERY
from unlearn.metrics import bounds as metric_bounds
from unlearn.metrics import direction
from unlearn.report.verdict_inputs import miscalibrated, replicate_values, seed_values, spread
from unlearn.stats import abs_nct_cdf, fisher, holm

ALPHA, MARGIN, POWER = 0.05, 4.0, 0.8
JUDGED = ("approximate", "control")  # kinds tested against the reference; "exact" is removed by construction
PLAIN = (("forget NLL", "forget.nll"), ("verbatim ROUGE-L", "forget.verbatim_rougeL"),
         ("PII extraction", "forget.pii_extraction"), ("QA accuracy", "forget.qa_accuracy"),
         ("truth ratio", "forget.truth_ratio"), ("exposure", "forget.exposure"),
         ("membership", "forget.mia_loss_auc"))
KS = ("forget quality", "forget_quality")


def settings(results: dict) -> dict:
    """The verdict's alpha and margin as configured for the run (defaults for older results)."""
    cfg = ((results.get("meta") or {}).get("config") or {}).get("verdict") or {}
    return {"alpha": cfg.get("alpha", ALPHA), "margin": cfg.get("margin", MARGIN)}


def verdicts(models: dict, alpha: float = ALPHA, margin: float = MARGIN) -> dict:
    """{model: {"verdict", "reason", "over_unlearned", "parts", "excluded", "per_seed"}} for every
    judged model (and exact ones, removed by construction)."""
    plan = power_plan(models, alpha, margin)
    out = {}
    for name, m in models.items():
        if m.get("status") != "ok":
            continue
        if m["kind"] == "exact":
            out[name] = {"verdict": "removed", "parts": [], "over_unlearned": False,
                         "reason": "exact by construction: trained without the users (unlearn sisa-check)"}
        elif m["kind"] in JUDGED and plan is not None:
            out[name] = judge(m, plan, alpha, margin)
            seeds = list(m.get("per_seed") or {})
            out[name]["per_seed"] = {s: {k: v for k, v in judge(m, plan, alpha, margin, [s]).items()
                                         if k in ("verdict", "reason", "over_unlearned")} for s in seeds}
    return out


def attack_power(models: dict, alpha: float = ALPHA, margin: float = MARGIN) -> dict:
    """{attack: {"effect", "p", "used_in_verdict", "reason"}}: each attack's detection power — the
    original's post-attack level against the reference's (`power_plan`) — and whether it enters the
    verdicts; every attack any model ran is listed, one without a reference level with that reason."""
    plan = power_plan(models, alpha, margin)
    ran = sorted({k.split(".")[1] for m in models.values() for k in m.get("metrics", {})
                  if k.startswith("attacks.") and k.endswith(".level")})
    rows = {r["key"].split(".")[1]: r for r in (plan or {}).get("rows", []) if r["channel"] == "attack"}
    out = {}
    for name in sorted(set(ran) | set(rows)):
        row = rows.get(name)
        if row is None:
            out[name] = {"effect": None, "p": None, "used_in_verdict": False,
                         "reason": "no retrain reference level for this attack" if plan else "no retrain reference"}
            continue
        original = row.get("original") or {}
        out[name] = {"effect": original.get("effect"), "p": original.get("p"), "used_in_verdict": "reason" not in row,
                     "reason": row.get("reason") or (f"separates the original from the reference at α/m = "
                                                     f"{alpha / plan['m_all']:.2g}")}
    return out


def candidates(retrain: dict) -> list[tuple[str, str, str]]:
    """(name, key, channel) of every measurement the reference has: plain, the KS, each attack."""
    keys = set().union(*(r.keys() for rows in (retrain.get("replicates") or {}).values() for r in rows)) \
        if retrain.get("replicates") else set(retrain.get("metrics", {}))
    out = [(name, key, "plain") for name, key in PLAIN if key in keys]
    out += [(KS[0], KS[1], "distribution")] if KS[1] in keys else []
    attacks = sorted(k.split(".")[1] for k in keys if k.startswith("attacks.") and k.endswith(".level"))
    return out + [(a, f"attacks.{a}.level", "attack") for a in attacks]


def _tests_per(channel: str) -> int:
    return 2 if channel == "plain" else 1  # plain: memorized and over-unlearned direction


def power_plan(models: dict, alpha: float = ALPHA, margin: float = MARGIN) -> dict | None:
    """Per candidate measurement: the reference's values and spread, and the original's effect —
    whether the measurement has the power to enter a verdict (module docstring). None without a
    reference."""
    retrain, original = models.get("retrain"), models.get("original")
    if retrain is None or retrain.get("status") != "ok":
        return None
    cands = candidates(retrain)
    m_all = sum(_tests_per(c) for _, _, c in cands)
    broken = miscalibrated(models)
    rows = []
    for name, key, channel in cands:
        row = {"name": name, "key": key, "channel": channel, "ref": replicate_values(retrain, key)}
        row["sigma"], row["df"] = spread(row["ref"])
        row["original"] = measure(original, row, alpha, margin, m_all) if original else None
        if channel != "distribution" and row["df"] < 1:
            row["reason"] = "needs at least 2 retrain replicates per seed"
        elif channel != "distribution" and not row["sigma"] > 0:
            row["reason"] = "the retrain replicates do not vary: no spread to judge against"
        elif row["original"] is None or row["original"].get("p") is None:
            row["reason"] = "no original model to show the measurement's power on"
        elif channel == "attack" and row["name"] in broken:
            row["reason"] = broken[row["name"]]
        elif not row["original"]["p"] < alpha / m_all:
            row["reason"] = (f"no power: the original is not separated from the reference "
                             f"(p={row['original']['p']:.2g} ≥ α/m = {alpha / m_all:.2g})")
        elif channel != "distribution" and not abs(row["original"]["effect"]) > row["original"]["margin"]:
            row["reason"] = (f"no power: the original's effect {row['original']['effect']:+.3g} lies within the margin "
                             f"±{row['original']['margin']:.3g}, so equivalence on it would mean nothing")
        rows.append(row)
    return {"rows": rows, "m_all": m_all}


def measure(m: dict, row: dict, alpha: float, margin: float, m_family: int, seeds: list[str] | None = None) -> dict:
    """The model's statistics on one measurement: effect, interval, p both ways, equivalence."""
    if row["channel"] == "distribution":
        return _ks(m, seeds)
    x, ref = seed_values(m, row["key"]), row["ref"]
    seeds = [s for s in (seeds if seeds is not None else x) if s in x and ref.get(s)]
    out = {"name": row["name"], "key": row["key"], "channel": row["channel"]}
    if not seeds or not row["df"] or not row["sigma"] > 0:
        return {**out, "effect": None, "interval": None, "p": None, "p_less": None, "direction": "",
                "equivalent": False, "missing": not seeds}
    sigma, df, S = row["sigma"], row["df"], len(seeds)
    inv_k = [1.0 / len(ref[s]) for s in seeds]
    means = [float(np.mean(ref[s])) for s in seeds]
    effect = float(np.mean([x[s] - r for s, r in zip(seeds, means)]))
    se = sigma * math.sqrt(sum(1 + k for k in inv_k)) / S  # the model as one more retrain draw
    se_ref = sigma * math.sqrt(sum(inv_k)) / S  # the reference means' uncertainty alone
    attack = row["channel"] == "attack"  # an attack's level: its recovery array, higher = more of the data
    higher = attack or direction(row["key"]) is not False
    t = (effect if higher else -effect) / se
    half = float(stats.t.ppf(0.975, df)) * se
    reference = float(np.mean(means))
    lo, hi = metric_bounds(RECOVERY[row["name"]] if attack else row["key"])
    psi = margin * math.sqrt(2) * S / math.sqrt(sum(inv_k))
    p_eq = abs_nct_cdf(abs(effect) / se_ref, df, psi)
    more = (effect > 0) == higher
    return {**out, "value": float(np.mean([x[s] for s in seeds])), "reference": reference, "effect": effect,
            "interval": [max(effect - half, lo - reference), min(effect + half, hi - reference)],
            "p": float(stats.t.sf(t, df)), "p_less": float(stats.t.cdf(t, df)),
            "direction": "as the reference" if effect == 0 else
            f"{'more' if more else 'less'} memorized than the reference",
            "margin": margin * math.sqrt(2) * sigma, "p_equivalence": p_eq, "equivalent": p_eq < alpha,
            "mde": (float(stats.t.ppf(1 - alpha / m_family, df)) + float(stats.t.ppf(POWER, df))) * se,
            "sigma": sigma, "df": df, "seeds": S}


def _ks(m: dict, seeds: list[str] | None) -> dict:
    """Forget quality: per-seed one-sided KS p-values of per-user truth ratios, Fisher-combined."""
    p_seed, d_seed = seed_values(m, KS[1]), seed_values(m, "forget_quality_d")
    users = seed_values(m, "forget_quality_users")
    seeds = [s for s in (seeds if seeds is not None else p_seed) if s in p_seed]
    out = {"name": KS[0], "key": KS[1], "channel": "distribution", "interval": None, "p_less": None}
    if not seeds:
        return {**out, "effect": None, "p": None, "direction": "", "missing": True}
    effect = float(np.mean([d_seed.get(s, 0.0) for s in seeds]))
    return {**out, "effect": effect, "p": fisher([p_seed[s] for s in seeds]),
            "direction": "more memorized than the reference" if effect > 0 else "as the reference",
            "users": float(np.mean([users.get(s, 0.0) for s in seeds])), "seeds": len(seeds)}


def combined_ks(m: dict) -> float | None:
    """The forget-quality p-value the verdict uses (Fisher over the seeds' one-sided KS tests)."""
    return _ks(m, None)["p"] if seed_values(m, KS[1]) else None


def judge(m: dict, plan: dict, alpha: float = ALPHA, margin: float = MARGIN, seeds: list[str] | None = None) -> dict:
    """The verdict of one model, from the measurements with power, on `seeds` (default all)."""
    rows = [r for r in plan["rows"] if "reason" not in r]
    m_family = sum(_tests_per(r["channel"]) for r in rows)
    parts = [measure(m, r, alpha, margin, max(m_family, 1), seeds) for r in rows]
    family = [(i, "p") for i, p in enumerate(parts) if p["p"] is not None]
    family += [(i, "p_less") for i, p in enumerate(parts) if p["channel"] == "plain" and p["p_less"] is not None]
    for (i, field), adjusted in zip(family, holm([parts[i][field] for i, field in family])):
        parts[i][field + "_adjusted"] = adjusted
    for p in parts:
        p.setdefault("p_adjusted", None)
        p.setdefault("p_less_adjusted", None)
        p["separates"] = p["p_adjusted"] is not None and p["p_adjusted"] < alpha
        p["over"] = p["p_less_adjusted"] is not None and p["p_less_adjusted"] < alpha
        original = next(r["original"] for r in rows if r["key"] == p["key"])
        p["power"] = {k: original.get(k) for k in ("effect", "p")}  # the original's, which let it in
    verdict, reason = _decide(parts)
    over = [p["name"] for p in parts if p["over"]]
    if over:
        reason += "; over-unlearned (holds less than retrain, which itself tells who objected): " + ", ".join(over)
    excluded = [{"name": r["name"], "key": r["key"], "reason": r["reason"]} for r in plan["rows"] if "reason" in r]
    return {"verdict": verdict, "reason": reason, "over_unlearned": bool(over), "parts": parts, "excluded": excluded}


def _decide(parts: list[dict]) -> tuple[str, str]:
    names = lambda ps: ", ".join(p["name"] for p in ps)  # noqa: E731
    plain = [p for p in parts if p["separates"] and p["channel"] != "attack"]
    attacked = [p for p in parts if p["separates"] and p["channel"] == "attack"]
    testable = [p for p in parts if p["channel"] != "distribution"]
    if not testable:
        return "inconclusive", "no measurement tells the original from the reference: this run cannot judge removal"
    if plain:
        return "not removed", "plain evaluation holds more than the retrain reference: " + names(plain)
    if attacked:
        return "suppressed", "after attack it holds more than the retrain reference does: " + names(attacked)
    open_ = [p for p in testable if not (p["equivalent"] or p["over"])]  # holding less: not more, shown
    if not open_:
        return "removed", ("every measurement, plain and attacked, shown equivalent to the retrain reference"
                           + (" or below it" if any(p["over"] for p in testable) else ""))
    why = [f"{p['name']} (missing)" if p.get("missing") or p["effect"] is None else
           f"{p['name']} (effect {p['effect']:+.3g}, margin ±{p['margin']:.3g}, detectable ≥ {p['mde']:.3g})"
           for p in open_]
    return "inconclusive", "not separated, but not shown equivalent either: " + "; ".join(why)
