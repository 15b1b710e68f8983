"""Verdicts per method, from results.json alone (shared/SCIENCE.md "The question").

Every approximate method (and corpus deletion) is judged against `retrain`, the model that never
saw the objecting users:

- not removed — a plain (unattacked) forget-side test separates it from retrain:
    * forget quality: the KS test of its forget truth ratios against retrain's (TOFU; the
      p-value is `forget_quality`); separated if p < α;
    * membership: retrain's forget LOSS-attack AUC lies outside the method's 95% bootstrap
      interval of that AUC (`forget.mia_loss_auc`; over seeds a t interval), i.e. a 5% test;
    * canary exposure: retrain's mean forget exposure outside the method's 95% interval.
- suppressed — no plain test separates it, but an attack recovers significantly more of the
  forget data than the same attack does on retrain: `attacks.<a>.recovery_vs_retrain` > 0 with
  the paired Wilcoxon p-value (attacks/recovery.py) below α / (number of attacks), Bonferroni
  over the attacks run.
- removed — neither.

Several seeds: each p-valued test (KS, Wilcoxon) is run per seed and the per-seed p-values are
combined by Fisher's method (one test over all seeds); the recovery's sign is that of its mean
over seeds. The interval tests become Welch's two-sample t-test of the method's per-seed values
against retrain's (p < α separates), since a 3-seed interval ignores retrain's own spread.

Exact methods (`kind == "exact"`, SISA) are removed by construction: their weights are those of
training without the users (proved by `unlearn sisa-check`), so they are not tested against
retrain, a different model (SISA's constituents see 1/S of the data: its metrics differ from
retrain's for that reason alone). A test whose inputs are missing (no QA table, no canaries, no
attack) is skipped and listed as such. Separation can go either way: a method that forgets
*more* than retrain (e.g. forget AUC below retrain's) is distinguishable from a model that never
saw the data too; each failed test records its direction.
"""
from __future__ import annotations

import math

from scipy import stats

ALPHA = 0.05
JUDGED = ("approximate",)  # kinds tested against retrain; "exact" is removed by construction
INTERVAL_TESTS = (("membership", "forget.mia_loss_auc"), ("exposure", "forget.exposure"))


def verdicts(models: dict, alpha: float = ALPHA) -> dict:
    """{method: {"verdict", "parts": [...], "reason"}} for every judged model in `models`."""
    retrain = models.get("retrain")
    out = {}
    for name, m in models.items():
        if m.get("status") != "ok":
            continue
        if m["kind"] == "exact":
            out[name] = {"verdict": "removed", "parts": [],
                         "reason": "exact by construction: trained without the users (unlearn sisa-check)"}
        elif m["kind"] in JUDGED and retrain is not None:
            out[name] = judge(m, retrain, alpha)
    return out


def judge(m: dict, retrain: dict, alpha: float = ALPHA) -> dict:
    """The verdict of one model against retrain, with every test behind it."""
    seeds = _seeds(m, retrain)
    compare = _welch if len(seeds) > 1 else _interval
    tried = {"forget quality": _ks(m, alpha, seeds), **{t: compare(m, retrain, t, k, alpha, seeds) for t, k in INTERVAL_TESTS}}
    plain = [p for p in tried.values() if p]
    attacks = sorted({k.split(".")[1] for k in m["metrics"] if k.startswith("attacks.") and
                      k.endswith(".recovery_vs_retrain_p")})
    level = alpha / max(len(attacks), 1)
    recovered = []
    for a in attacks:
        diff = m["metrics"][f"attacks.{a}.recovery_vs_retrain"]
        p = _p(m, f"attacks.{a}.recovery_vs_retrain_p", seeds)
        recovered.append({"name": a, "test": f"{a}: recovery vs retrain's, paired Wilcoxon" + _fisher(seeds),
                          "value": diff, "p": p, "level": level, "separates": bool(diff > 0 and p < level)})
    if any(p["separates"] for p in plain):
        verdict = "not removed"
        reason = "plain evaluation separates it from retrain: " + ", ".join(p["name"] for p in plain if p["separates"])
    elif any(r["separates"] for r in recovered):
        verdict = "suppressed"
        reason = "attacks recover the data beyond retrain: " + ", ".join(r["name"] for r in recovered if r["separates"])
    else:
        verdict = "removed"
        reason = "no plain test and no attack separates it from retrain"
    skipped = [t for t, p in tried.items() if p is None]  # inputs missing (no QA, canaries, interval)
    return {"verdict": verdict, "reason": reason, "parts": plain + recovered, "skipped": skipped}


def _seeds(m: dict, retrain: dict) -> list[str]:
    """The seeds both models have per-seed values for (none with a single seed)."""
    mine, theirs = m.get("per_seed") or {}, retrain.get("per_seed") or {}
    return [s for s in mine if s in theirs]


def _p(m: dict, key: str, seeds: list[str]) -> float:
    """The model's p-value for `key`; over several seeds, Fisher's combination of the seeds' ones."""
    values = [m["per_seed"][s][key] for s in seeds if key in m["per_seed"][s]]
    if len(values) < 2:
        return m["metrics"][key]
    return float(stats.combine_pvalues([min(max(v, 1e-300), 1.0) for v in values], method="fisher").pvalue)


def combined_p(m: dict, key: str) -> float | None:
    """`key`'s p-value for a results.json model entry, Fisher-combined over its seeds."""
    if key not in m["metrics"]:
        return None
    return _p(m, key, list(m.get("per_seed") or {}))


def _fisher(seeds: list[str]) -> str:
    return f", Fisher-combined over {len(seeds)} seeds" if len(seeds) > 1 else ""


def _ks(m: dict, alpha: float, seeds: list[str]) -> dict | None:
    if m["metrics"].get("forget_quality") is None:
        return None
    p = _p(m, "forget_quality", seeds)
    return {"name": "forget quality", "test": "forget quality (KS of truth ratios vs retrain)" + _fisher(seeds),
            "value": m["metrics"]["forget_quality"], "p": p, "level": alpha, "separates": bool(p < alpha)}


def _welch(m: dict, retrain: dict, test: str, key: str, alpha: float, seeds: list[str]) -> dict | None:
    """Welch's t-test of the method's per-seed values of `key` against retrain's."""
    mine = [m["per_seed"][s][key] for s in seeds if key in m["per_seed"][s]]
    theirs = [retrain["per_seed"][s][key] for s in seeds if key in retrain["per_seed"][s]]
    if len(mine) < 2 or len(theirs) < 2:
        return None
    p = float(stats.ttest_ind(mine, theirs, equal_var=False).pvalue)
    if math.isnan(p):  # no spread on either side: equal or not, exactly
        p = 1.0 if sorted(mine) == sorted(theirs) else 0.0
    value, ref = sum(mine) / len(mine), sum(theirs) / len(theirs)
    return {"name": test, "test": f"{test} ({key}: Welch t-test over {len(mine)} seeds vs retrain)", "value": value,
            "p": p, "level": alpha, "retrain": ref, "separates": bool(p < alpha),
            "direction": ("more than retrain" if value > ref else "less than retrain") if p < alpha else ""}


def _interval(m: dict, retrain: dict, test: str, key: str, alpha: float = ALPHA, seeds=()) -> dict | None:
    value, ci, ref = m["metrics"].get(key), (m.get("ci") or {}).get(key), retrain["metrics"].get(key)
    if value is None or ci is None or ref is None:
        return None
    outside = not ci[0] <= ref <= ci[1]
    return {"name": test, "test": f"{test} ({key}: retrain's value inside the 95% interval)", "value": value,
            "interval": ci,
            "retrain": ref, "separates": bool(outside),
            "direction": ("more than retrain" if value > ref else "less than retrain") if outside else ""}
