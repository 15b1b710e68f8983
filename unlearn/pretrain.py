"""The tiny model's pretraining on other people (stage `pretrain`), and the plain NLL loss that
fine-tuning shares."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from unlearn.config import Config, compute_key, to_dict
from unlearn.corpus import build_corpus
from unlearn.corpus.generate import GENERATOR_VERSION
from unlearn.data import encode
from unlearn.losses import batch_nll
from unlearn.models import load_model
from unlearn.stages import Stages
from unlearn.train import save_outcome, train

# The pretraining network is drawn with this offset to the run's seed (the tokenizer's text is
# drawn with models.TOKENIZER_SEED_OFFSET): other people than the run's, never its members.
PRETRAIN_SEED_OFFSET = 2_000_003
PRETRAIN_QA_USERS = 0.9  # share of the pretraining network's non-objecting members with QA pairs


def pretrain_data(cfg: Config):
    """The data config of the tiny model's pretraining network (`pretrain`): the run's, with
    `model.pretrain_users` users, 1% held out and 1% objecting (only members' texts are trained
    on; objectors' QA pairs are left out), no canaries, QA pairs for PRETRAIN_QA_USERS of the rest."""
    return dataclasses.replace(cfg.data, n_users=cfg.model.pretrain_users, holdout_fraction=0.01, forget_fraction=0.01,
                               objection_rounds=1, canary_insertions=(), reference_canaries=0,
                               qa_train_users=PRETRAIN_QA_USERS)


def pretrain(cfg: Config, seed: int, stages: Stages, acc, init_dir: Path) -> tuple[Path, dict]:
    """Pretrain the tiny model's random initialisation into a small assistant, before it sees the
    network: fine-tuning's recipe for `model.pretrain_epochs` passes over the members' texts of a
    synthetic network of `model.pretrain_users` *other* people (another seed), with QA pairs about
    most of its members. A pretrained model such as SmolLM2-Instruct arrives knowing how to answer
    questions about people it read about; a model trained from scratch on the network alone does
    not learn it from a few dozen QA-trained users — it memorises their answers and fabricates for
    everyone else (mixed training needs many people, Allen-Zhu & Li, arXiv 2309.14316). The result
    is the run's `base` model (pipeline.prepare ends the run if it failed)."""
    data = pretrain_data(cfg)
    recipe = dataclasses.replace(cfg.finetune, epochs=cfg.model.pretrain_epochs)
    key = {"init": init_dir.name, "data": to_dict(data), "seed": seed, "recipe": to_dict(recipe),
           "max_length": cfg.model.max_length, "generator": GENERATOR_VERSION, **compute_key(cfg)}

    def build(out):
        model, tok = load_model(init_dir / "model")
        corpus = build_corpus(data, seed + PRETRAIN_SEED_OFFSET)
        texts = encode(tok, corpus.texts["train"]["text"], cfg.model.max_length)
        result = train(model, {"train": texts}, "train", _nll_loss, recipe, seed, acc, desc="pretrain on other people")
        return save_outcome(result, model, tok, out, acc)

    return stages.run("pretrain", key, build)


def _nll_loss(model, ref_model, batch):
    nll = batch_nll(model, batch["train"])
    return nll, {}
