"""The assistant's question/answer template: how a question about a person is put to a model.

One template per model, used alike for the QA instruction texts mixed into fine-tuning
(corpus/generate.py `qa_texts`) and for every question asked in evaluation and attacks:

- a tokenizer with a chat template (instruct models such as SmolLM2-Instruct): the tokenizer's
  own template (`apply_chat_template`), the question as the user turn, the answer as the
  assistant turn; an instruction goes in a system turn, demonstrations are earlier turns;
- otherwise (the tiny model from scratch) plain lines: "Q: question\\nA: answer", an instruction
  as a first line, demonstrations as earlier Q/A pairs.

The corpus stores QA texts in the plain form, so it does not depend on the model; `model_text`
turns them into the chat form at encoding time (data.encode). A text is a QA text when it has the
plain form exactly: "Q: " at its start, one line of question, then "\\nA: ". Posts start with their
author's feed header, so they never do.
"""
from __future__ import annotations

import re

QA_TEXT = re.compile(r"Q: (?P<question>[^\n]*)\nA: (?P<answer>.*)", re.S)


def has_chat(tok) -> bool:
    """Does the tokenizer bring a chat template?"""
    return bool(getattr(tok, "chat_template", None))


def _messages(question: str, answer: str | None, shots, system: str | None) -> list[dict]:
    out = [{"role": "system", "content": system}] if system else []
    for q, a in shots:
        out += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    out.append({"role": "user", "content": question})
    if answer is not None:
        out.append({"role": "assistant", "content": answer})
    return out


def prompt(tok, question: str, shots: tuple | list = (), system: str | None = None) -> str:
    """The text a model continues to answer `question`, after demonstration pairs `shots`
    ((question, answer), ...) and an optional instruction `system`. The answer follows directly
    (plain: after "A:" and a space, which belongs to the answer's first token)."""
    if has_chat(tok):
        return tok.apply_chat_template(_messages(question, None, shots, system), tokenize=False,
                                       add_generation_prompt=True)
    lines = [system] if system else []
    lines += [f"Q: {q}\nA: {a}" for q, a in shots]
    return "\n".join(lines + [f"Q: {question}\nA:"])


def answer_text(tok, answer: str) -> str:
    """The continuation of `prompt` that states `answer` (plain: a leading space)."""
    return answer if has_chat(tok) else " " + answer


def plain_text(question: str, answer: str) -> str:
    """The corpus form of a QA pair (model-independent)."""
    return f"Q: {question}\nA: {answer}"


def model_text(tok, text: str) -> str:
    """`text` as the model is trained on it: a QA text in the tokenizer's chat template where it
    has one (without the trailing newline of the template's end of turn), anything else as is."""
    if not has_chat(tok):
        return text
    m = QA_TEXT.fullmatch(text)
    if not m:
        return text
    full = tok.apply_chat_template(_messages(m["question"], m["answer"], (), None), tokenize=False).rstrip("\n")
    eos = tok.eos_token or ""
    return full[: -len(eos)] if eos and full.endswith(eos) else full  # encode() appends the eos token


def first_answer(generation: str) -> str:
    """The answer part of a decoded continuation: up to the first line break (the plain template's
    next "Q:" line, or a chat model's next turn)."""
    return generation.strip().split("\n", 1)[0].strip()
