"""Knowledge about users, asked as a chatbot is asked: QA outcome rates, answer probability,
truth ratio (TOFU).

Prompt design. Every question is put in the assistant template the models are fine-tuned with
(unlearn/chat.py: the tokenizer's chat template, or "Q: question\nA:" for the tiny model), and the
model's greedy answer is read up to its first line break and classified (metrics/answers.py):

- correct / fabricated / refused / other: one of the four per question (their rates sum to 1).
  "fabricated" is a well-formed value of the asked kind that is not the true one: invented
  personal data. The answer is decoded for the reference answer sentence's own token count +
  QA_SLACK tokens, at most `max_new`.
- answer_prob = exp(-mean token NLL of the reference answer sentence given the prompt),
  teacher-forced (TOFU's answer probability, length-normalised).
- truth_ratio (TOFU, Maini et al. 2024, arXiv 2401.06121):
      R = (prod_i P(ã_i | q))^(1/k) / P(â | q),   P(y | q) = exp(-mean token NLL of y given q),
  â the reworded answer sentence, ã_i the same sentence with each of the k wrong values put in
  place of the true one, q the prompt. So R = exp(NLL(â) - mean_i NLL(ã_i)).

Continuation tokens. We tokenise the prompt and prompt+continuation separately and score the
tokens of the latter after their longest common prefix. Where BPE merges across the boundary
(the prompt's last token changes), the merged token is scored too: the span scored is the
smallest token span that covers the continuation.
"""
from __future__ import annotations

import numpy as np

from unlearn import chat
from unlearn.metrics.answers import OUTCOMES, classify, contains, dates, normalise, values  # noqa: F401 (re-exported)
from unlearn.metrics.generate import generate
from unlearn.metrics.prefix_scoring import continuation_logprobs

PII = ("phone", "street_address", "birthday", "email")
QA_MAX_NEW = 48  # the most new tokens any QA row is decoded for
QA_SLACK = 6  # new tokens beyond the answer's own token count


def split_paraphrase(row: dict) -> tuple[str, str] | None:
    """(head, tail) with paraphrased_answer = head + answer + tail, or None if it is absent."""
    para, answer = row["paraphrased_answer"], row["answer"]
    at = para.find(answer)
    return None if at < 0 else (para[:at], para[at + len(answer):])


def qa_prompts(tok, rows) -> list[tuple[str, str]]:
    """(prompt, continuation) per row: the question in the assistant template (after the row's
    demonstration pairs `shots` and instruction `system`, where it has them), the reworded answer
    sentence (module docstring)."""
    return [(chat.prompt(tok, row["question"], row.get("shots") or (), row.get("system")),
             chat.answer_text(tok, row["paraphrased_answer"])) for row in rows]


def answer_budgets(tokenizer, pairs: list[tuple[str, str]], max_new: int = QA_MAX_NEW) -> list[int]:
    """New tokens to decode per (prompt, continuation) pair: the continuation's token count +
    QA_SLACK, at most `max_new` (module docstring)."""
    conts = [c for _, c in pairs]
    lengths = [len(x) for x in tokenizer(conts, add_special_tokens=False)["input_ids"]] if conts else []
    return [min(max_new, n + QA_SLACK) for n in lengths]


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def continuation_nll(model, tokenizer, pairs: list[tuple[str, str]], max_length: int, batch_size: int,
                     device) -> np.ndarray:
    """Mean token NLL of each continuation given its prompt, in one batched teacher-forced pass
    through the token trie of all pairs (metrics/prefix_scoring.py): every shared prefix token, and
    a repeated pair (a QA row's answer sentence is also its truth ratio's first), computed once."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
    fulls = tokenizer([p + c for p, c in pairs], add_special_tokens=False)["input_ids"]
    starts = [common_prefix(p, f) for p, f in zip(prompts, fulls)]
    seqs = [([bos] + f)[:max_length] for f in fulls]
    # the continuation is seqs[i][start + 1:] (bos shifts by one); none left after truncation: NaN
    scored = [i for i, (seq, s) in enumerate(zip(seqs, starts)) if len(seq) > s + 1]
    logprobs = continuation_logprobs(model, [seqs[i] for i in scored], [starts[i] + 1 for i in scored],
                                     batch_size, device, pad)
    out = np.full(len(pairs), np.nan)
    out[scored] = [-lp.mean() for lp in logprobs]
    return out


def truth_ratio(nll_paraphrased: float, nll_perturbed: np.ndarray) -> float:
    """R = geometric-mean P(perturbed) / P(paraphrased), with P = exp(-mean token NLL)."""
    return float(np.exp(nll_paraphrased - np.mean(nll_perturbed)))


def tf_pairs(tok, row: dict) -> list[tuple[str, str]]:
    """Teacher-forced (prompt, answer sentence) pairs: the true sentence, then each perturbed one.

    Without the value in the reworded sentence, the bare values stand in for the sentences.
    """
    head, tail = split_paraphrase(row) or ("", "")
    sentences = [head + v + tail for v in [row["answer"], *row["perturbed_answers"]]]
    question = chat.prompt(tok, row["question"], row.get("shots") or (), row.get("system"))
    return [(question, chat.answer_text(tok, s)) for s in sentences]


def ask(model, tok, rows: list[dict], max_length: int, batch_size: int, device,
        max_new: int = QA_MAX_NEW, sample: dict | None = None) -> list[str]:
    """Each row's question in the template, the model's answer (decoded greedily, or by `sample`,
    generate()'s sampling settings), up to its first line break."""
    pairs = qa_prompts(tok, rows)
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    prompt_ids = tok([p for p, _ in pairs], add_special_tokens=False)["input_ids"] if pairs else []
    gen_ids = generate(model, [([bos] + p)[:max_length] for p in prompt_ids], answer_budgets(tok, pairs, max_new),
                       batch_size, device, pad, tok.eos_token_id, **(sample or {}))
    return [chat.first_answer(tok.decode(g, skip_special_tokens=True)) for g in gen_ids]


def outcomes(answers: list[str], rows: list[dict]) -> list[str]:
    """The class of each answer (metrics/answers.py); names in the question are not fabrications."""
    return [classify(a, r["attribute"], r["answer"], r["question"]) for a, r in zip(answers, rows)]


def qa_eval(model, tok, rows: list[dict], max_length: int, batch_size: int, device,
            max_new: int = QA_MAX_NEW) -> dict:
    """Per row: one 0/1 array per outcome ("correct", "fabricated", "refused", "other"),
    "answer_prob", "truth_ratio"; and the "answers" themselves."""
    answers = ask(model, tok, rows, max_length, batch_size, device, max_new)
    classes = outcomes(answers, rows)
    # One teacher-forced pass: each row's answer pair, then its TOFU sentence pairs.
    pairs = qa_prompts(tok, rows)
    tf = [tf_pairs(tok, row) for row in rows]
    nll = continuation_nll(model, tok, pairs + [p for group in tf for p in group], max_length, batch_size, device)
    ratios, at = [], len(rows)
    for group in tf:  # group[0]: the true sentence, group[1:]: the perturbed ones
        ratios.append(truth_ratio(nll[at], nll[at + 1 : at + len(group)]))
        at += len(group)
    out = {k: np.array([float(c == k) for c in classes]) for k in OUTCOMES}
    out.update(answer_prob=np.exp(-nll[: len(rows)]), truth_ratio=np.array(ratios), answers=answers)
    return out
