"""The QA arrays of one group of users (metrics/evaluate.py): which questions count, their
breakdowns by fact kind and by mentions, and the user each item asks about."""
from __future__ import annotations

import numpy as np

from unlearn.metrics.qa import qa_eval

PII_ATTRIBUTES = ("phone", "email", "street_address", "birthday")  # contact data and birth dates


def _qa_masks(rows: list[dict]) -> dict[str, np.ndarray]:
    """Which question rows each QA array keeps: `own` — stated in the user's own texts and in no
    retain text of another user (so a retrain model cannot know it: the main figures); `third` —
    also stated in another, non-objecting member's text (retrain may know these too, so they are
    not failures of a removal); `pii` — contact data and birth dates."""
    third = np.array([bool(r["third_party"]) for r in rows], dtype=bool)
    own = np.array([bool(r["stated"]) for r in rows], dtype=bool) & ~third
    return {"own": own, "third": third, "pii": np.array([r["attribute"] in PII_ATTRIBUTES for r in rows], dtype=bool)}


def qa_breakdown(rows: list[dict], own: np.ndarray) -> dict[str, np.ndarray]:
    """Index masks of the breakdowns, among the `own` rows: `_k_<attribute>` per fact kind and
    `_m<n>` per number of the user's own texts stating the fact (recall against mentions)."""
    kept = [r for r, o in zip(rows, own) if o]
    out = {f"_k_{a}": np.array([r["attribute"] == a for r in kept], dtype=bool)
           for a in sorted({r["attribute"] for r in kept})}
    counts = sorted({int(r["mentions"]) for r in kept if "mentions" in r and r["mentions"]})
    out.update({f"_m{n}": np.array([int(r.get("mentions") or 0) == n for r in kept], dtype=bool) for n in counts})
    return out


def qa_users(split: str, qa: list[dict]) -> dict[str, np.ndarray]:
    """The user each QA array item asks about (keys as `_qa_arrays` writes them)."""
    asked, masks = np.asarray([r["user_id"] for r in qa], dtype=str), _qa_masks(qa)
    out = {f"{split}.{name}": asked[masks["own"]] for name in QA_OWN}
    out[f"{split}.pii_extraction_qa"] = asked[masks["own"] & masks["pii"]]
    out[f"{split}.qa_accuracy_third_party"] = asked[masks["third"]]
    for suffix, mask in qa_breakdown(qa, masks["own"]).items():
        for name in ("qa_accuracy", "qa_fabricated") if "_k_" in suffix else ("qa_accuracy",):
            out[f"{split}.{name}{suffix}"] = asked[masks["own"]][mask]
    return out


QA_OWN = ("qa_accuracy", "qa_fabricated", "qa_refused", "qa_other", "qa_answer_prob", "truth_ratio")


def _qa_arrays(split: str, rows: list[dict], model, tok, cfg, device) -> dict[str, np.ndarray]:
    """What the model answers about the split's users (metrics/qa.py): the outcome rates, answer
    probability and truth ratio on the `own` questions (the main figures), their breakdowns by fact
    kind and by mentions, contact-data extraction by questions, and accuracy on `third` questions."""
    out = qa_eval(model, tok, rows, cfg.model.max_length, cfg.eval.batch_size, device)
    masks = _qa_masks(rows)
    own, third, is_pii = masks["own"], masks["third"], masks["pii"]
    per_row = {"qa_accuracy": out["correct"], "qa_fabricated": out["fabricated"], "qa_refused": out["refused"],
               "qa_other": out["other"], "qa_answer_prob": out["answer_prob"], "truth_ratio": out["truth_ratio"]}
    arrays = {f"{split}.{name}": np.asarray(per_row[name], float)[own] for name in QA_OWN}
    arrays[f"{split}.pii_extraction_qa"] = np.asarray(out["correct"], float)[own & is_pii]
    arrays[f"{split}.qa_accuracy_third_party"] = np.asarray(out["correct"], float)[third]
    for suffix, mask in qa_breakdown(rows, own).items():
        for name in ("qa_accuracy", "qa_fabricated") if "_k_" in suffix else ("qa_accuracy",):
            arrays[f"{split}.{name}{suffix}"] = arrays[f"{split}.{name}"][mask]
    return arrays
