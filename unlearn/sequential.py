"""Sequential deletion requests: the objecting users split into k rounds (MUSE's sustainability,
arXiv 2407.06460: unlearning requests arrive one after another, and each is applied to the model
the previous one left).

Round r forgets the texts of the users whose `objection_round` is r; at that time the users of
later rounds have not objected yet, so their texts still belong to the retain side.
"""
from __future__ import annotations

import datasets


def round_texts(corpus, round_: int, cumulative: bool = False) -> dict:
    """Splits as they stand at round `round_`: forget = that round's objectors' texts (all rounds up
    to it if `cumulative`, for evaluation); retain = retain + texts of later rounds' objectors."""
    users = corpus.tables["users"]
    rounds = dict(zip(users["user_id"], users["objection_round"]))
    forget = corpus.texts["forget"]
    author_round = [rounds[u] for u in forget["user_id"]]
    now = [i for i, r in enumerate(author_round) if (r <= round_ if cumulative else r == round_)]
    later = [i for i, r in enumerate(author_round) if r > round_]
    retain = datasets.concatenate_datasets([corpus.texts["retain"], forget.select(later)]) if later \
        else corpus.texts["retain"]
    return {"forget": forget.select(now), "retain": retain, "holdout": corpus.texts["holdout"]}
