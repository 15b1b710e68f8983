"""The SISA aggregate as one causal language model: the mean of the constituents' distributions.

    π(x_t | x_<t) = (1/S) Σ_s π_s(x_t | x_<t),    logits := log π (already normalised)

Bourtoule et al. 2021 (arXiv 1912.03817) aggregate by majority vote over labels; for a language
model the natural analogue is averaging the next-token distributions.

`SisaEnsemble` answers the calls every metric and attack makes on a model, so they run on it
unchanged: `model(input_ids, attention_mask, position_ids, cache, use_cache, logits_to_keep,
output_hidden_states)` (the KV cache is one cache per constituent, `EnsembleCache`; hidden states
are the constituents' concatenated along the feature axis, so the probe attack reads all of them),
`generate(input_ids, attention_mask, generation_config)` (greedy, or sampling with temperature and
top-k, the options metrics/generate.py sets), `.config`, parameters (training and quantization act
on every constituent). Its forward costs S forwards of the base architecture.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from transformers.modeling_outputs import CausalLMOutputWithPast

from unlearn.metrics.kv_rows import select_rows


class EnsembleCache:
    """One KV cache per constituent."""

    def __init__(self, parts: list):
        self.parts = parts

    def select(self, rows: torch.Tensor, configs: list, spare: int = 0) -> "EnsembleCache":
        """The batch rows `rows` of every part (a row may repeat), `spare` free slots each."""
        return EnsembleCache([select_rows(c, rows, cfg, spare) for c, cfg in zip(self.parts, configs)])


class SisaEnsemble(nn.Module):
    """S constituent causal LMs behind one model interface (module docstring)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("a SISA ensemble needs at least one constituent with training data")
        self.members = nn.ModuleList(members)
        self.config = members[0].config
        self.generation_config = members[0].generation_config

    @property
    def cache_config(self) -> list:
        """What `select_rows` needs per part (the exposure walk passes `model.cache_config` if present)."""
        return [m.config for m in self.members]

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None,
                logits_to_keep=0, output_hidden_states=False, **kwargs):
        logp, caches, hiddens = None, [], []
        for i, m in enumerate(self.members):  # one member's (B, T, V) log-probs alive at a time
            out = m(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                    cache=cache.parts[i] if cache is not None else None, use_cache=use_cache,
                    logits_to_keep=logits_to_keep, output_hidden_states=output_hidden_states)
            caches.append(out.cache)
            hiddens.append(out.hidden_states)
            member = out.logits.float().log_softmax(-1)
            del out  # and with it the member's logits
            if logp is None:
                logp = member
            elif torch.is_grad_enabled() and (logp.requires_grad or member.requires_grad):
                logp = torch.logaddexp(logp, member)  # relearning through the aggregate
            else:
                torch.logaddexp(logp, member, out=logp)
            del member
        scale = math.log(len(self.members))
        logp = logp - scale if logp.requires_grad else logp.sub_(scale)
        hidden = tuple(torch.cat(layer, -1) for layer in zip(*hiddens)) if output_hidden_states else None
        return CausalLMOutputWithPast(logits=logp, cache=EnsembleCache(caches) if use_cache else None,
                                      hidden_states=hidden)

    @torch.inference_mode()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, generation_config) -> torch.Tensor:
        """(B, T + new) token ids: greedy, or sampled at `temperature` with top-k (0 = all), with
        the shared KV caches; rows that emitted eos continue with padding, as transformers does."""
        gc = generation_config
        eos, pad = gc.eos_token_id, gc.pad_token_id if gc.pad_token_id is not None else gc.eos_token_id
        mask = attention_mask.clone()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: real tokens count from 0
        out = self(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                   logits_to_keep=1)
        seqs, done = input_ids, torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)
        nxt_pos = positions[:, -1:] + 1
        for step in range(gc.max_new_tokens):
            logp = out.logits[:, -1]  # (B, V)
            if gc.do_sample:
                scores = logp / gc.temperature
                if gc.top_k:
                    kth = scores.topk(min(gc.top_k, scores.shape[-1]), dim=-1).values[:, -1:]
                    scores = scores.masked_fill(scores < kth, float("-inf"))
                nxt = torch.multinomial(scores.softmax(-1), 1).squeeze(1)
            else:
                nxt = logp.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            seqs = torch.cat([seqs, nxt[:, None]], 1)
            done |= nxt == eos
            if done.all() or step == gc.max_new_tokens - 1:
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            out = self(input_ids=nxt[:, None], attention_mask=mask, position_ids=nxt_pos, cache=out.cache,
                       use_cache=True)
            nxt_pos = nxt_pos + 1
        return seqs


def load_ensemble(folder: Path) -> tuple[SisaEnsemble, object]:
    """The aggregate of a SISA model folder (unlearn/exact/sisa.py) and its tokenizer."""
    from unlearn.exact.sisa import load_trainable
    from unlearn.models import load_model

    record = json.loads((folder / "sisa.json").read_text())
    base = (folder / record["base"]).resolve()
    members, tok = [], None
    for s in range(record["shards"]):
        last = folder / f"shard{s}" / f"slice{record['slices'] - 1}.safetensors"
        if not sum(record["texts"][s]) or not last.exists():
            continue  # a shard without texts has no constituent
        model, tok = load_model(base)
        if record["lora"]:
            from peft import LoraConfig, get_peft_model

            lora = record["lora_config"]
            model = get_peft_model(model, LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=0.0,
                                                     target_modules=lora["targets"]))
            load_trainable(model, load_file(last), lora=True)
            model = model.merge_and_unload().requires_grad_(True)  # peft froze the base: trainable again, as loaded models are
        else:
            load_trainable(model, load_file(last), lora=False)
        members.append(model.eval())
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return SisaEnsemble(members), tok
