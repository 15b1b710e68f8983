"""Exact unlearning: the model is, by construction, one that never saw the removed users.

`retrain` (pipeline.py: the base fine-tuned on the retain split) and SISA (`sisa.py`: sharded,
sliced training whose deletions retrain only the affected shards; `ensemble.py`: its aggregate
behind the model interface every metric and attack uses).
"""
