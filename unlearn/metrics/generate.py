"""Batched decoding for the generation metrics (verbatim memorization, QA, probes, fluency).

Greedy decoding is what MUSE (arXiv 2407.06460) and TOFU (arXiv 2401.06121) evaluate with;
sampling at temperature 1 is the sampling attack (attacks/sampling.py). Both run through
transformers' `model.generate` with the KV cache, on left-padded batches: a decoder-only model
continues at the right end of every row, so padding must sit on the left, masked out (the
model derives position ids from the attention mask).

Decoding must not depend on what a checkpoint's `generation_config.json` carries:
`model.generate` fills every option left unset from the model's config (SmolLM2-Instruct
ships sampling defaults), so we pass an explicit config in which every option that changes
the chosen tokens is set to its neutral value.

Sampling is reproducible: the global torch RNG is seeded with `seed + start` before the batch
that starts at sorted position `start` (a fixed seed per batch; distinct seeds so batches do not
reuse one random stream), inside `torch.random.fork_rng`, so the caller's RNG state is left as
it was. A sampled continuation therefore depends on (seed, prompts, batch_size), not on what
ran before.
"""
from __future__ import annotations

import torch
from transformers import GenerationConfig, PreTrainedModel

MIN_SHARED = 4  # shorter shared prefixes are not worth a separate forward
# Greedy decoding runs GREEDY_ROWS x batch_size rows at a time: each step feeds one token per row and
# keeps logits for it alone, so `batch_size` (sized for scoring whole texts) leaves the matrix
# products small; the answers do not depend on the batch (tests/test_generation_metrics.py). Sampled
# batches stay at batch_size: their random streams are seeded per batch.
GREEDY_ROWS = 4

# Options a checkpoint may carry that change which tokens are chosen, at their no-op values.
# Greedy and sampling: penalties, length floors and beams act on every decoding mode.
NEUTRAL = dict(num_beams=1, num_return_sequences=1, repetition_penalty=1.0, no_repeat_ngram_size=0,
               min_new_tokens=0, guidance_scale=1.0, renormalize_logits=False)
# Sampling only: transformers applies these warpers only when do_sample=True, so greedy decoding
# leaves them out (setting them there only triggers "flag ignored" warnings).
NEUTRAL_SAMPLING = dict(top_p=1.0, min_p=0.0, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0)


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) input_ids and attention_mask with padding on the left."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, width - len(seq):] = torch.tensor(seq)
        mask[row, width - len(seq):] = 1
    return ids, mask


def _shared_prefix(model, prompts: list[list[int]]) -> int:
    """Tokens at the start of every prompt (a chat template's system turn), computed once per batch
    when there are at least MIN_SHARED of them and every prompt goes on after them; 0 otherwise
    (and for models with their own `generate`, such as a SISA ensemble)."""
    if not isinstance(model, PreTrainedModel) or len(prompts) < 2:
        return 0
    shared = min(len(p) for p in prompts) - 1  # every prompt keeps a token for the prefill
    for p in prompts[1:]:
        while p[:shared] != prompts[0][:shared]:
            shared -= 1
    return shared if shared >= MIN_SHARED else 0


def _prefix_cache(model, prefix: list[int], rows: int, spare: int, device):
    """The keys and values of `prefix`, run once, as `rows` rows with room for `spare` more tokens."""
    from unlearn.metrics.kv_rows import select_rows

    cache = model(input_ids=torch.tensor([prefix], device=device), use_cache=True, logits_to_keep=1).cache
    return select_rows(cache, torch.zeros(rows, dtype=torch.long, device=device), model.config, spare)


def cut_at_eos(tokens: list[int], eos_id: int) -> list[int]:
    """Tokens before the first eos (eos excluded); also drops the padding that follows it."""
    return tokens[: tokens.index(eos_id)] if eos_id in tokens else tokens


def _config(max_new_tokens: int, pad_id: int, eos_id: int, sample: bool, temperature: float,
            top_k: int) -> GenerationConfig:
    """An explicit generation config: no option is inherited from the checkpoint."""
    sampling = dict(temperature=temperature, top_k=top_k, **NEUTRAL_SAMPLING) if sample else {}
    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=sample, pad_token_id=pad_id,
                            eos_token_id=eos_id, use_cache=True, **NEUTRAL, **sampling)


@torch.inference_mode()
def generate(model, prompts: list[list[int]], max_new_tokens: int | list[int], batch_size: int, device,
             pad_id: int, eos_id: int, sample: bool = False, temperature: float = 1.0, top_k: int = 0,
             seed: int = 0) -> list[list[int]]:
    """Continue every prompt (token ids starting with bos); return the new tokens, cut at eos.

    Greedy unless `sample`; sampling uses `temperature` and top-k (0 = the full vocabulary).
    `max_new_tokens` is one budget for all or one per prompt; with per-prompt budgets, batches
    are formed by budget, then length, each decoded to its largest budget, and every row is cut
    to its own (decoding a row further never changes its first tokens).
    Prompts are decoded in length-sorted batches (less padding; greedy ones of GREEDY_ROWS x
    batch_size rows); results come in input order.
    The tokens every prompt of a batch starts with run once, their keys and values shared by the
    rows; the rest of each prompt is left-padded after them (the mask keeps the padding out, and
    position ids count only real tokens), so the answers equal those of full prompts up to float
    rounding.
    """
    model.eval()
    budgets = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(prompts)
    if len(budgets) != len(prompts):
        raise ValueError(f"generate: {len(budgets)} budgets for {len(prompts)} prompts")
    order = sorted(range(len(prompts)), key=lambda i: (budgets[i], len(prompts[i])))
    device = torch.device(device)
    # fork_rng saves and restores the CPU RNG and, on CUDA, this device's RNG.
    cuda = [device.index or 0] if device.type == "cuda" else []
    out: dict[int, list[int]] = {}
    with torch.random.fork_rng(devices=cuda):
        rows = batch_size if sample else batch_size * GREEDY_ROWS
        for start in range(0, len(order), rows):
            idx = order[start : start + rows]
            batch = [prompts[i] for i in idx]
            new = max(budgets[i] for i in idx)
            shared = _shared_prefix(model, batch)
            ids, mask = left_pad([p[shared:] for p in batch], pad_id)  # (B, T): the part after the shared prefix
            kwargs = {}
            if shared:  # the prefix's tokens stay in input_ids (generate skips what the cache holds)
                kwargs["cache"] = _prefix_cache(model, batch[0][:shared], len(idx), ids.shape[1] + new, device)
                ids = torch.cat([torch.tensor(batch[0][:shared]).expand(len(idx), shared), ids], 1)
                mask = torch.cat([torch.ones((len(idx), shared), dtype=torch.long), mask], 1)
            torch.manual_seed(seed + start)
            config = _config(new, pad_id, eos_id, sample, temperature, top_k)
            full = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                  generation_config=config, **kwargs)  # (B, T + new)
            for row, i in enumerate(idx):
                out[i] = cut_at_eos(full[row, ids.shape[1]:ids.shape[1] + budgets[i]].tolist(), eos_id)
    return [out[i] for i in range(len(prompts))]
