"""Shared test helpers: a randomly initialised tiny causal LM and random token data."""
from __future__ import annotations

import random

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from unlearn.data import TokenData

VOCAB = 64


def tiny_lm(seed: int = 0) -> LlamaForCausalLM:
    """2 layers, hidden 32, built from a config (no download)."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return LlamaForCausalLM(config)


def random_tokens(n: int, seed: int, min_len: int = 5, max_len: int = 20) -> TokenData:
    """n random sequences starting with bos=1, ending with eos=2 (pad id 0)."""
    rng = random.Random(seed)
    ids = [[1] + [rng.randrange(3, VOCAB) for _ in range(rng.randint(min_len, max_len))] + [2] for _ in range(n)]
    return TokenData(ids, 0)


def method_inputs(cls, method, model):
    """What a method's optimisation takes, on random data: (reference model or None, splits, aligned
    splits). Aligned splits (e.g. IdkDPO's refusals) get their names from `aligned_texts` and random
    rows, one per forget row (the random data has no text to derive them from)."""
    import copy

    forget, retain = random_tokens(16, 1), random_tokens(16, 2)
    ref = copy.deepcopy(model) if cls.needs_ref else None
    splits = {"forget": forget, **({"retain": retain} if cls.needs_retain else {})}
    names = method.aligned_texts(["X (@x): hi"] * len(forget), ["en"] * len(forget), [[]] * len(forget)) \
        if hasattr(method, "aligned_texts") else {}
    return ref, splits, {n: random_tokens(len(forget), 3 + i) for i, n in enumerate(names)}
