"""Logit-lens attack (white box): is a forget user's fact still readable at some layer, even where
the model's output no longer says it?

Patil, Hase & Bansal 2023 ("Can Sensitive Information Be Deleted From LLMs? Objectives for
Defending Against Extraction Attacks", arXiv 2309.17410) recover "deleted" facts by projecting
intermediate hidden states through the model's own output head (the logit lens, nostalgebraist
2020) and taking the top candidates of every layer (their Head Projection attack). No probe is
trained, so it needs no labelled users, and every asked fact of every forget user is an item.

Per item i — a forget QA row whose answer sentence states the value verbatim, the value's tokens
v_i1..v_im — the input is bos + the question (assistant template) + the answer sentence up to and
including the value, teacher-forced. At layer ℓ = 1..L the lens distribution at the position
before v_ij is

    π_ℓ(· | x) = softmax(W_U · norm(h_ℓ)),      h_L is HF's last hidden state (already normed):
                                               π_L is the model's own output distribution,

and r_ℓj the rank of v_ij under it (0 = the top token). Layer ℓ *states* the value if
max_j r_ℓj < k (`attacks.lens_top_k`). Settings, per item (1 or 0):
"final" = the last layer states it (what the output says: the baseline), "lens" = some layer
states it (the adversary reads every layer: at most k·L candidates per token). Layer 0 (the token
embeddings) is left out: it sees only the previous token.

SISA aggregate: per layer the constituents' lens distributions are averaged, as the aggregate
averages its output distributions (exact/ensemble.py).

Deviations: rows whose answer sentence does not contain the answer string verbatim are skipped
(counted in `Lens.info["skipped"]`); tokens where prefix and value merge count as value tokens.
"""
from __future__ import annotations

import numpy as np
import torch

from unlearn import chat
from unlearn.attacks.base import AttackContext
from unlearn.metrics.qa import common_prefix


class Lens:
    """The model's own output head on every layer's hidden state, on the forget users' facts."""

    name = "lens"

    def __init__(self, cfg_attacks):
        self.top_k = cfg_attacks.lens_top_k
        self.info: dict = {}

    def settings(self) -> list[str]:
        return ["final", "lens"]

    def run(self, model, tok, ctx: AttackContext) -> dict[str, dict[str, np.ndarray]]:
        """Per setting: "forget.lens_extraction" per forget QA row that states its answer."""
        rows = [r for r in ctx.plan.qa["forget"] if r["answer"] and r["answer"] in r["paraphrased_answer"]]
        items = value_items(tok, rows, ctx.cfg.model.max_length)
        ranks = layer_ranks(model, items, ctx.cfg.eval.batch_size, ctx.acc.device, tok.pad_token_id)  # (n, L)
        stated = ranks < self.top_k
        self.info = {"items": len(items), "skipped": len(ctx.plan.qa["forget"]) - len(rows), "top_k": self.top_k,
                     "layers": int(ranks.shape[1]) if ranks.size else 0,
                     "stated_by_layer": stated.mean(0).tolist() if len(stated) else []}
        final = stated[:, -1] if ranks.size else np.zeros(0, bool)
        return {"final": {"forget.lens_extraction": final.astype(float)},
                "lens": {"forget.lens_extraction": (stated.any(1) if ranks.size else final).astype(float)}}


def value_items(tok, rows: list[dict], max_length: int) -> list[tuple[list[int], int]]:
    """(token ids, first value position) per row: bos + question + answer sentence up to and
    including the value; ids[start:] are the value's tokens (at least one, within max_length)."""
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    out = []
    for row in rows:
        head = chat.prompt(tok, row["question"]) + chat.answer_text(
            tok, row["paraphrased_answer"].split(row["answer"], 1)[0])
        before = [bos] + tok(head, add_special_tokens=False)["input_ids"]
        full = ([bos] + tok(head + row["answer"], add_special_tokens=False)["input_ids"])[:max_length]
        start = min(common_prefix(before, full), len(full) - 1)
        out.append((full, max(start, 1)))
    return out


def final_norm(model):
    """The norm the model applies before its output head (Llama-style `model.model.norm`)."""
    norm = getattr(getattr(model, "model", None), "norm", None)
    if norm is None:
        raise ValueError("lens attack: no final norm at model.model.norm; it supports Llama-style models "
                         "(tiny, SmolLM2); leave 'lens' out of attacks.names for this model")
    return norm


@torch.inference_mode()
def layer_ranks(model, items: list[tuple[list[int], int]], batch_size: int, device, pad_id: int) -> np.ndarray:
    """(n_items, L) int: per layer 1..L the worst rank over an item's value tokens under the lens
    distribution (module docstring); a SISA aggregate averages its constituents' distributions."""
    members = list(getattr(model, "members", [model]))
    for m in members:
        m.eval()
    out = []
    for begin in range(0, len(items), batch_size):
        chunk = items[begin : begin + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for row, (ids, _) in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        # (row, position predicting a value token, that token) for every value token of the chunk
        rows = [r for r, (ids, s) in enumerate(chunk) for _ in range(s, len(ids))]
        pos = torch.tensor([p - 1 for ids, s in chunk for p in range(s, len(ids))])
        target = torch.tensor([ids[p] for ids, s in chunk for p in range(s, len(ids))])
        rows_t = torch.tensor(rows)
        # per member: each layer's normed state at the value positions, (L, N, H) — small; the
        # (N, V) distributions are made one layer at a time (SmolLM2: 30 layers x 49k tokens)
        states = []
        for m in members:
            hidden = m(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                       output_hidden_states=True).hidden_states[1:]  # layers 1..L, (B, T, H)
            norm = final_norm(m)
            picked = [h[rows_t.to(h.device), pos.to(h.device)] for h in hidden]  # (N, H) each
            states.append([p if layer == len(picked) - 1 else norm(p) for layer, p in enumerate(picked)])
            del hidden
        per_layer = []
        for layer in range(len(states[0])):
            p = sum(torch.softmax(m.get_output_embeddings()(st[layer]).float(), -1).cpu()
                    for m, st in zip(members, states))  # (N, V): the members' probabilities, summed
            ranks = (p > p.gather(1, target[:, None])).sum(1)  # tokens strictly more probable than the target
            worst = torch.zeros(len(chunk), dtype=torch.long).scatter_reduce(0, rows_t, ranks, "amax")
            per_layer.append(worst)
        out.append(torch.stack(per_layer, 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.int64)

