"""Selecting batch rows of a key/value cache with room to grow: the trie walk of canary exposure
(metrics/exposure.py) steps many children from each parent's cached prefix.

`select_rows` copies the chosen rows (a row may repeat) into preallocated (B, H_kv, T + spare, D)
buffers per layer; `_SlotLayer.update` then writes each new token into the next free slot instead
of concatenating (transformers' DynamicLayer copies every row's whole history on each step).
"""
from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class _SlotLayer(DynamicLayer):
    """A cache layer over preallocated (B, H_kv, capacity, D) buffers: `update` writes the new
    token's keys/values into the next free slot instead of concatenating (DynamicLayer's
    torch.cat copies every row's whole history on each step: half of the walk's time)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        super().__init__()
        self.buffers = (keys, values)
        self.keys, self.values = keys[:, :, :length], values[:, :, :length]
        self.device, self.is_initialized = keys.device, True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        keys, values = self.buffers
        start, end = self.keys.shape[-2], self.keys.shape[-2] + key_states.shape[-2]
        if end > keys.shape[-2]:  # out of slots: grow like a plain layer (the grown tensors become the buffers)
            out = super().update(key_states, value_states, *args, **kwargs)
            self.buffers = (self.keys, self.values)
            return out
        keys[:, :, start:end], values[:, :, start:end] = key_states, value_states
        self.keys, self.values = keys[:, :, :end], values[:, :, :end]
        return self.keys, self.values


def _slot_rows(layer, rows: torch.Tensor, spare: int) -> _SlotLayer:
    length = layer.keys.shape[-2]
    if isinstance(layer, _SlotLayer) and layer.buffers[0].shape[-2] >= length + spare:  # the buffers have the room
        return _SlotLayer(layer.buffers[0][rows], layer.buffers[1][rows], length)
    bufs = []
    for t in (layer.keys, layer.values):
        buf = t.new_empty((len(rows), t.shape[1], length + spare, t.shape[3]))
        buf[:, :, :length] = t[rows]
        bufs.append(buf)
    return _SlotLayer(*bufs, length)


def select_rows(cache, rows: torch.Tensor, config, spare: int = 0):
    """A new cache holding batch rows `rows` of `cache` (a row may repeat), with room for
    `spare` more tokens per row; a cache of several parts (a SISA ensemble's,
    unlearn/exact/ensemble.py) selects in each part itself."""
    if isinstance(cache, DynamicCache):
        # each layer's keys/values: (B, H_kv, T, D) -> (len(rows), H_kv, T [+ spare slots], D)
        out = DynamicCache(config=config)
        out.layers = [_slot_rows(layer, rows, spare) for layer in cache.layers]
        return out
    return cache.select(rows, config, spare)
