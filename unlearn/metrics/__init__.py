"""Metrics. `METRICS`: per-text metrics over the shared teacher-forced scoring pass, run on every
evaluated split; `SUITE`: every other reported metric (decoding, PII, QA, exposure, membership
summaries, comparisons with retrain), with where it is computed.

Each entry records its direction (`higher_is_memorized`: does a higher value mean the model
holds more of the data? None where that depends on the split or is not about memorization) and
a `version` that changes whenever the definition changes (it is part of the evaluation cache
key, so a changed metric re-evaluates every model). Result keys are `<split>.<name>` (splits
forget, retain, holdout; `reference` for unplanted canaries) or the bare name for comparisons.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from unlearn.metrics import basic, mia

INF = math.inf
UNIT, POSITIVE, NONPOSITIVE, REAL = (0.0, 1.0), (0.0, INF), (-INF, 0.0), (-INF, INF)  # value ranges


@dataclass(frozen=True)
class Metric:
    fn: Callable  # (Scored, texts) -> per-text np.ndarray
    higher_is_memorized: bool | None
    version: int
    bounds: tuple[float, float] = REAL  # the range of a value (intervals never leave it)


@dataclass(frozen=True)
class Reported:
    where: str  # the module that computes it
    higher_is_memorized: bool | None
    version: int
    bounds: tuple[float, float] = UNIT


METRICS = {
    "nll": Metric(basic.nll, False, 1, POSITIVE),
    "ppl": Metric(basic.ppl, False, 1, (1.0, INF)),  # aggregated as a geometric mean
    "exact_memorization": Metric(basic.exact_memorization, True, 1, UNIT),
    "extraction_strength": Metric(basic.extraction_strength, True, 1, UNIT),
    "loss_score": Metric(basic.loss_score, True, 1, NONPOSITIVE),
    "zlib_score": Metric(mia.zlib_score, True, 1, NONPOSITIVE),
    "mink20_score": Metric(lambda s, t: mia.mink_score(s, 0.2), True, 1, NONPOSITIVE),
    "mink40_score": Metric(lambda s, t: mia.mink_score(s, 0.4), True, 1, NONPOSITIVE),
    "minkpp_score": Metric(lambda s, t: mia.minkpp_score(s), True, 1, REAL),
}

SUITE = {
    "pii_extraction": Reported("pii", True, 1),
    "pii_extraction_sampled": Reported("pii", True, 1),
    "pii_logprob": Reported("pii", True, 1, NONPOSITIVE),
    "verbatim_rougeL": Reported("verbatim", True, 1),
    "verbatim_exact": Reported("verbatim", True, 1),
    # version 2: asked in the assistant template, the answer classified (metrics/answers.py), on the
    # questions no retain text of another user answers
    "qa_accuracy": Reported("qa", True, 2),
    "qa_fabricated": Reported("qa", None, 1),  # invented values of the asked kind
    "qa_refused": Reported("qa", None, 1),
    "qa_other": Reported("qa", None, 1),
    # version 3 of the two teacher-forced QA scores: each prompt computed once, its continuations on its
    # KV cache; version 4: every shared prefix token once (the system turn, the question, an answer
    # sentence's wording up to the value: the token trie of metrics/prefix_scoring.py); both equal
    # version 2's numbers up to float rounding (1.3e-4 on SmolLM2)
    "qa_answer_prob": Reported("qa", True, 4),
    "truth_ratio": Reported("qa", False, 4, POSITIVE),
    "pii_extraction_qa": Reported("qa", True, 2),
    "qa_accuracy_third_party": Reported("qa", True, 2),
    "exposure": Reported("exposure", True, 1, POSITIVE),
    "fluency": Reported("utility", None, 1),
    "probe_correct": Reported("utility", None, 1),
    "lens_extraction": Reported("attacks", True, 1),  # attacks/lens.py: some layer states the value
    "mia_loss_auc": Reported("mia", True, 1),
    "mia_zlib_auc": Reported("mia", True, 1),
    "mia_mink20_auc": Reported("mia", True, 1),
    "mia_mink40_auc": Reported("mia", True, 1),
    "mia_minkpp_auc": Reported("mia", True, 1),
    "mia_ref_auc": Reported("relative", True, 1),
    "mia_tpr_at_1fpr": Reported("mia", True, 1),
    # version 2: one-sided (memorized direction), on per-user truth ratios against the reference replicates
    "forget_quality": Reported("relative", False, 2),
    "forget_quality_d": Reported("relative", None, 1),  # its KS statistic D+
    "forget_quality_users": Reported("relative", None, 1, POSITIVE),  # its effective n: users asked
    # version 2: MUSE's sign (forget texts the non-members): an un-unlearned model scores about -100
    "privleak": Reported("relative", None, 2, (-100.0, INF)),
    "general_accuracy": Reported("relative", None, 1),
    # version 2: retain QA accuracy (users never QA-trained), exp(-retain NLL), fluency, general accuracy
    "model_utility": Reported("relative", None, 2),
}


def metric_name(key: str) -> str:
    """`forget.exposure_r4` -> `exposure`; `privleak` -> `privleak`;
    `attacks.quantize.int4.forget.loss_score` -> `loss_score`; the QA breakdowns by fact kind and
    by mentions, `forget.qa_accuracy_k_city` and `forget.qa_accuracy_m3` -> `qa_accuracy`."""
    name = key.rsplit(".", 1)[-1]
    if name.startswith("exposure_r"):
        return "exposure"
    return re.sub(r"_(?:k_[a-z_]+|m\d+)$", "", name) if name.startswith("qa_") else name


def direction(key: str) -> bool | None:
    """Does a higher value of this result key mean more memorized? (None: not that kind)."""
    name = metric_name(key)
    entry = METRICS.get(name) or SUITE.get(name)
    return entry.higher_is_memorized if entry else None


def bounds(key: str) -> tuple[float, float]:
    """The range of this result key's values (unknown keys: the real line)."""
    name = metric_name(key)
    entry = METRICS.get(name) or SUITE.get(name)
    return entry.bounds if entry else REAL


def versions() -> dict[str, int]:
    """Metric name -> version, for cache keys and provenance."""
    return {**{k: m.version for k, m in METRICS.items()}, **{k: m.version for k, m in SUITE.items()}}
