"""Sampling attack: n samples at temperature 1 instead of one greedy decode.

Unlearning is usually judged with greedy decoding, but an adversary can simply ask n times.
Hayes et al. 2024 (arXiv 2410.19482) show that a value greedy decoding no longer produces still
comes out of some of n samples when it keeps a non-negligible probability. Per item i (a prompt
x_i with a check c_i on the decoded continuation):

    "greedy" (baseline):  hit_i = g_i = c_i(argmax-decode(x_i))
    "n{k}":               hit_i = max(g_i, max_{j<k} c_i(y_ij)),   y_ij ~ π(· | x_i) at temperature 1
                          (top-k if set): the adversary keeps the greedy answer and draws k more

The n{k} value is estimated from N = `attacks.sampling_n` draws with h_i hits, without bias for
every k ≤ N at once (pass@k, Chen et al. 2021, arXiv 2107.03374, eq. 1):
hit_i = 1 if g_i else 1 − C(N − h_i, k) / C(N, k). Settings: k ∈ {1, 8, 64} up to N, and N itself
(the headline, the strongest). A model that reproduces the value greedily hits at every k, so
sampling never reads as *less* than greedy.

Items:
- QA: the rows of the plan's forget QA that ask for a personal value (phone, e-mail, street
  address, birthday: what an extraction attack is after), prompted as in evaluation
  (`qa_prompts`: the question in the assistant template), decoded for as many new tokens as
  `qa_eval` decodes (`qa.answer_budgets`: the answer's token count + slack); c_i = the answer (up
  to its first line break) states the true value (`answers.is_correct`).
  So "greedy" is the evaluation's QA accuracy on these rows.
- PII: every value of those four kinds that `pii.pii_spans` counts in the plan's forget texts
  (the other kinds, city or employer, are asked by the QA part and guessed from a small set
  anyway), prompted with bos + the
  text's own tokens before the span (exactly the tokens trained on); c_i = the value string
  occurs in the continuation, decoded for the span's token count + PII_SLACK tokens (a sample
  may spell the value with more, smaller tokens).

Deviations: greedy PII extraction here is decoded, not read off the teacher-forced argmax as in
`forget_side`, so it also counts a value spelled with another segmentation or reached within the
slack; both settings use the same rule, so the comparison is like for like.

Seeds: `generate` seeds each batch with seed + its start; the QA and PII calls get seeds hashed
from (ctx.seed, part), far apart, so their random streams do not overlap. A sample depends on
(ctx.seed, prompts, batch size) only.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from unlearn.attacks.base import AttackContext
from unlearn.metrics import pii
from unlearn.metrics.evaluate import PII_ATTRIBUTES
from unlearn.metrics.generate import generate
from unlearn.chat import first_answer
from unlearn.metrics.answers import is_correct
from unlearn.metrics.qa import answer_budgets, qa_prompts

PII_SLACK = 4  # extra new tokens beyond a value's own token count
PASS_AT = (1, 8, 64)  # the k of the n{k} settings (up to attacks.sampling_n, which is always one)


def pass_at(greedy: bool, hits: int, n: int, k: int) -> float:
    """P(the greedy answer or any of k samples hits), from n samples with `hits` hits (k <= n)."""
    if greedy:
        return 1.0
    return 1.0 - math.comb(n - hits, k) / math.comb(n, k)


def ks(n: int) -> list[int]:
    """The sample counts reported for n draws: PASS_AT up to n, and n."""
    return sorted({k for k in PASS_AT if k <= n} | {n})


def derived_seed(seed: int, part: str) -> int:
    """A seed for one decoding call, hashed from the run's seed and the call's name."""
    return int(hashlib.sha256(f"sampling-{seed}-{part}".encode()).hexdigest()[:12], 16)


def _bos(tok) -> int:
    return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id


def qa_items(tok, rows: list[dict], max_length: int) -> list[list[int]]:
    """Prompt token ids (bos + the question in the assistant template) per QA row, as qa_eval builds them."""
    prompts = [p for p, _ in qa_prompts(tok, rows)]
    ids = tok(prompts, add_special_tokens=False)["input_ids"] if prompts else []
    return [([_bos(tok)] + x)[:max_length] for x in ids]


def pii_items(tok, texts: dict, max_length: int,
              kinds=PII_ATTRIBUTES) -> tuple[list[list[int]], list[str], list[int]]:
    """(prompt ids, value, new-token budget) per counted PII span of a kind in `kinds` in `texts`
    ({"text", "pii", "user_id"} lists), in `pii.pii_spans` order."""
    spans = [s for s in pii.pii_spans(tok, texts["text"], texts["pii"], texts["user_id"], max_length)
             if s[3] in kinds]
    enc = tok(list(texts["text"]), add_special_tokens=False, return_offsets_mapping=True)
    prompts, values, budgets = [], [], []
    for i, a, b, kind in spans:  # body tokens [a, b) cover the value
        ids, offsets = enc["input_ids"][i], enc["offset_mapping"][i]
        first, last = offsets[a][0], offsets[b - 1][1]  # characters the span tokens cover
        value = next(s["value"] for s in texts["pii"][i] if s["type"] == kind and
                     s["subject"] == texts["user_id"][i] and s["start"] < last and s["end"] > first)
        prompts.append([_bos(tok)] + ids[:a])
        values.append(value)
        budgets.append(b - a + PII_SLACK)
    return prompts, values, budgets


def samples(model, tok, prompts: list[list[int]], budgets: list[int], n: int, top_k: int, seed: int,
            batch_size: int, device) -> list[list[str]]:
    """Decoded continuations per prompt: one greedy decode (n == 0), else n samples at temperature 1
    (top-k if top_k > 0); continuation j of prompt i is cut at budgets[i] new tokens."""
    if not prompts:
        return []
    reps = max(n, 1)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    flat = [p for p in prompts for _ in range(reps)]  # (P * reps) prompts, copies adjacent
    gens = generate(model, flat, [b for b in budgets for _ in range(reps)], batch_size, device, pad,
                    tok.eos_token_id, sample=n > 0, temperature=1.0, top_k=top_k, seed=seed)
    texts = [tok.decode(g, skip_special_tokens=True) for g in gens]
    return [texts[i * reps : (i + 1) * reps] for i in range(len(prompts))]


class Sampling:
    """QA accuracy and PII extraction on the forget side: greedy (the baseline) vs any of n samples."""

    name = "sampling"

    def __init__(self, cfg_attacks):
        self.n, self.top_k = cfg_attacks.sampling_n, cfg_attacks.sampling_top_k

    def settings(self) -> list[str]:
        return ["greedy"] + [f"n{k}" for k in ks(self.n)]

    def run(self, model, tok, ctx: AttackContext) -> dict[str, dict[str, np.ndarray]]:
        """Per setting: "forget.qa_accuracy" per forget QA row, "forget.pii_extraction" per span."""
        rows = [r for r in ctx.plan.qa["forget"] if r["attribute"] in PII_ATTRIBUTES]
        max_length = ctx.cfg.model.max_length
        qa_ids = qa_items(tok, rows, max_length)
        qa_budgets = answer_budgets(tok, qa_prompts(tok, rows))
        pii_ids, values, budgets = pii_items(tok, ctx.plan.texts["forget"], max_length)
        # samples of one prompt share its length: larger batches cost little padding
        decode = dict(top_k=self.top_k, batch_size=4 * ctx.cfg.eval.batch_size, device=ctx.acc.device)
        qa_hit = lambda g, r: is_correct(first_answer(g), r["attribute"], r["answer"])  # noqa: E731
        pii_hit = lambda g, v: v in g  # noqa: E731
        counts = {}  # array -> (greedy hit per item, sampled hits per item)
        for key, ids, lens, truth, hit, part in (
                ("forget.qa_accuracy", qa_ids, qa_budgets, rows, qa_hit, "qa"),
                ("forget.pii_extraction", pii_ids, budgets, values, pii_hit, "pii")):
            greedy = samples(model, tok, ids, lens, 0, seed=derived_seed(ctx.seed, part), **decode)
            drawn = samples(model, tok, ids, lens, self.n, seed=derived_seed(ctx.seed, part), **decode)
            counts[key] = ([bool(hit(g[0], t)) for g, t in zip(greedy, truth)],
                           [sum(bool(hit(y, t)) for y in ys) for ys, t in zip(drawn, truth)])
        out = {"greedy": {key: np.array(g, float) for key, (g, _) in counts.items()}}
        for k in ks(self.n):
            out[f"n{k}"] = {key: np.array([pass_at(gi, hi, self.n, k) for gi, hi in zip(g, h)], float)
                            for key, (g, h) in counts.items()}
        return out
