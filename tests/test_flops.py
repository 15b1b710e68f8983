"""The compute counter (unlearn/flops.py) against hand-computed counts."""
import copy

import torch
from helpers import random_tokens, tiny_lm

from unlearn.config import TrainConfig
from unlearn.flops import FlopCounter, parameter_count
from unlearn.losses import forward_logits, sequence_nll
from unlearn.train import make_accelerator, train


def test_parameter_count_counts_tied_weights_once_and_frozen_ones_apart():
    model = tiny_lm(0)
    total, trainable = parameter_count(model)
    untied = sum(p.numel() for p in model.parameters())
    assert total == untied and trainable == total  # tiny_lm unties: every weight counted, all trainable
    model.model.embed_tokens.weight.requires_grad_(False)
    assert parameter_count(model) == (total, total - 64 * 32)  # vocabulary 64 x hidden 32 frozen


def test_a_trained_pass_costs_6n_a_token_a_frozen_pass_2n_and_no_grad_passes_nothing():
    model, ref = tiny_lm(0), tiny_lm(1)
    n = parameter_count(model)[0]
    ids = torch.randint(3, 64, (2, 5))
    with FlopCounter(model, frozen=[ref]) as flops:
        model(input_ids=ids).logits.sum().backward()  # 10 positions through the trained model
        with torch.no_grad():
            ref(input_ids=ids)  # 10 through the frozen one
            model(input_ids=ids)  # scoring without gradients: instrumentation, not counted
    assert flops.tokens == 20
    assert flops.total == 10 * 6 * n + 10 * 2 * n
    model(input_ids=ids)  # after the block: hooks removed
    assert flops.tokens == 20


def test_frozen_weights_drop_their_weight_gradients_from_the_count():
    model = tiny_lm(0)
    for name, p in model.named_parameters():
        p.requires_grad_("mlp" in name)  # as RMU trains a few layers, or LoRA its adapters
    total, trainable = parameter_count(model)
    with FlopCounter(model) as flops:
        model(input_ids=torch.randint(3, 64, (1, 7))).logits.sum().backward()
    assert 0 < trainable < total and flops.total == 7 * (4 * total + 2 * trainable)


def test_a_training_run_counts_every_padded_position_of_every_step():
    model = tiny_lm(0)
    data = random_tokens(8, 0, min_len=4, max_len=4)  # every text 6 tokens with bos and eos
    cfg = TrainConfig(lr=1e-3, max_steps=3, batch_size=4, warmup_ratio=0.0, schedule="constant")

    def loss(m, ref, batch):
        nll = sequence_nll(forward_logits(m, batch["train"]), batch["train"]["labels"]).mean()
        return nll, {}

    with FlopCounter(model) as flops:
        train(model, {"train": data}, "train", loss, cfg, 0, make_accelerator())
    assert flops.tokens == 3 * 4 * 6
    assert flops.total == 3 * 4 * 6 * 6 * parameter_count(copy.deepcopy(model))[0]
