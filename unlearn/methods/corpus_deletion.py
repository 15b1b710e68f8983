"""Corpus deletion only: the objecting users' posts leave the corpus, the model stays untouched.

This is the status quo the claim describes (delete from the data, keep the trained weights).
Objective: none; θ_new = θ_original. Its row must show the data is still in the model.
"""
from __future__ import annotations

from dataclasses import dataclass


class CorpusDeletion:
    """The original model, unchanged."""

    @dataclass(frozen=True)
    class Config:
        pass

    kind = "approximate"
    needs_ref = False
    needs_retain = False
    trains = False

    def __init__(self, cfg: Config):
        self.cfg = cfg
