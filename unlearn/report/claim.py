"""The "answer to the claim" paragraph, generated from the verdicts and costs in results.json.

The claim under test: data that went into training can be
deleted from the corpus but never removed from the trained model. Exact removal (retrain, SISA)
answers it by construction, at a compute cost; approximate methods answer it only if they are
indistinguishable from retrain, attacks included. The paragraph says which methods did what at
which multiple of retrain's cost, and ends with the limits every such result carries.
"""
from __future__ import annotations

LIMITATIONS = (
    "Facts learned in fine-tuning may be easier to remove than facts learned in pretraining "
    "(Deeb & Roger 2024, arXiv 2410.08827); these models learned the users in fine-tuning only.",
    "An attacker who holds both the old and the new checkpoint can still extract the removed data "
    "(arXiv 2505.24379): old checkpoints must be deleted too.",
    "\"Removed\" means that, with the items, seeds and retrain replicates measured, no stated test "
    "tells the model from the retrain reference (5% family-wise) and every measurement was shown to lie "
    "within the stated margin of it; it is not a proof, and a stronger attack may still succeed.",
    "The social network, its users and their secrets are synthetic; real data is more varied and a "
    "real model far larger.",
)


def _names(items: list[str]) -> str:
    if not items:
        return "none"
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def _speed(models: dict, name: str) -> str:
    """`name`'s wall time as a multiple of retrain's, e.g. '0.08× retrain's time'."""
    wall, retrain = models[name]["cost"].get("wall_s"), models.get("retrain", {}).get("cost", {}).get("wall_s")
    if not wall or not retrain:
        return ""
    ratio = wall / retrain
    return f"{ratio:.2f}× retrain's time" if ratio >= 0.1 else f"{ratio:.3f}× retrain's time"


OUTCOMES = ("removed", "suppressed", "not removed", "inconclusive")


def _control(verdict: dict) -> str:
    """The null control's sentence: a run whose control is not removed has unreliable verdicts."""
    control = verdict.get("retrain_null")
    if control is None:
        return "This run has no null control, so its verdicts are not checked against one. "
    words = [control["verdict"]] + [v["verdict"] for v in (control.get("per_seed") or {}).values()]
    if all(w == "removed" for w in words):
        return "The null control (one more retrain model, judged like a method) came out removed, as it must. "
    return (f"The null control (one more retrain model, judged like a method) came out *{control['verdict']}* "
            f"(per seed: {', '.join(words[1:]) or words[0]}), not removed as it must be: the verdicts of this run "
            "are not reliable. ")


def _chatbot(models: dict) -> str:
    """The chatbot sentence: what the original and retrain answer about the objecting users, and
    what the original invents about users it never saw ("" without QA figures)."""
    get = lambda name, key: models.get(name, {}).get("metrics", {}).get(key)  # noqa: E731
    original, retrain = get("original", "forget.qa_accuracy"), get("retrain", "forget.qa_accuracy")
    if original is None or retrain is None:
        return ""
    held, invented = get("original", "holdout.qa_accuracy"), get("original", "holdout.qa_fabricated")
    text = (f"Asked about the objecting users, the original model answers {original:.0%} of their questions with the "
            f"true value, retrain {retrain:.0%}")
    if held is not None and invented is not None:
        text += (f"; about users it never saw, the original is right {held:.0%} of the time and invents a "
                 f"well-formed value (a city, a phone number, a partner's name) {invented:.0%} of the time")
    return text + ". "


def _frontier(frontier: dict) -> str:
    """The claim in the frontier's terms: per method, where (if anywhere) it became indistinguishable."""
    if not frontier:
        return ""
    said = []
    for name, f in frontier.items():
        first = f.get("first_indistinguishable")
        if first:
            utility = first.get("utility_vs_retrain")
            cost = first.get("cost_vs_retrain")
            said.append(f"{name} indistinguishable by the plain tests at {first['strength']:g}× its own steps"
                        + (f", {utility:.0%} of retrain's utility" if utility is not None else "")
                        + (f" and {cost:.3g}× its cost" if cost is not None else "")
                        + (f" (with attacks: {first['verdict']})" if first.get("verdict") else ""))
        elif f["stopped_by"] == "collapse":
            said.append(f"{name} not indistinguishable before utility collapse")
        elif f["stopped_by"] == "diverged":
            said.append(f"{name} diverged before becoming indistinguishable")
        else:
            said.append(f"{name} not indistinguishable within its {len(f.get('points') or [])} strengths")
    return "Along the removal frontier (each method at growing strength): " + "; ".join(said) + ". "


def answer(results: dict) -> str:
    """The paragraph (Markdown), or "" when no method was judged."""
    models, verdict = results["models"], results.get("verdict") or {}
    if not verdict:
        return ""
    by = {v: [n for n, x in verdict.items() if x["verdict"] == v and models[n]["kind"] == "approximate"]
          for v in OUTCOMES}
    exact = [n for n, x in verdict.items() if models[n]["kind"] == "exact" and x["verdict"] == "removed"]
    seeds = results.get("seeds", [])
    out = [f"**Answer to the claim** ({results['experiment']}, {len(seeds)} seed{'s' * (len(seeds) > 1)}). "]
    out.append(_control(verdict))
    retrain_ok = models.get("retrain", {}).get("status") == "ok"
    if retrain_ok:
        out.append("Retraining without the objecting users removes their data by definition"
                   + (f"; SISA ({_names(exact)}) does so too, at {_speed(models, exact[0])} for the deletion"
                      if exact and _speed(models, exact[0]) else "") + ". ")
    if "corpus_deletion" in verdict:
        out.append(f"Deleting the posts from the corpus alone leaves the trained model as it was: verdict "
                   f"*{verdict['corpus_deletion']['verdict']}*. ")
    out.append(_chatbot(models))
    approx = [n for v in OUTCOMES for n in by[v] if n != "corpus_deletion"]
    if approx:
        parts = []
        for v in OUTCOMES:
            names = [n for n in by[v] if n != "corpus_deletion"]
            if names:
                costs = [f"{n} ({_speed(models, n)})" if _speed(models, n) else n for n in names]
                parts.append(f"*{v}*: {_names(costs)}")
        out.append(f"Of {len(approx)} approximate methods, " + "; ".join(parts) + ". ")
    over = [n for n in approx if verdict[n].get("over_unlearned")]
    if over:
        out.append(f"Over-unlearned (holding less than retrain, which itself tells an observer who objected): "
                   f"{_names(over)}. ")
    if by["inconclusive"]:
        out.append("Inconclusive verdicts lacked the power to tell removal from its absence; the verdict table "
                   "names the smallest effect each measurement could detect. ")
    if not [n for n in by["removed"] if n != "corpus_deletion"]:
        out.append("No approximate method was shown to remove the data in this setup: for those not removed or "
                   "suppressed the claim holds here, while exact removal refutes it at the price of retraining "
                   "(all or the affected shards). ")
    else:
        out.append("Some approximate methods were shown equivalent to the retrain reference under every test run here. ")
    out.append(_frontier(results.get("frontier") or {}))
    out.append("The tests and p-values behind each verdict are in the verdict table.")
    lines = ["".join(out), "", "Limitations:"] + [f"- {item}" for item in LIMITATIONS]
    return "\n".join(lines)
