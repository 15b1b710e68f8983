"""Value checks of a loaded config: the run name, enumerated choices, every size, count, rate and
fraction, attack, SISA and method settings, and the model name. Each failure raises ConfigError
naming the file (or command line), the key, the value given and what is allowed."""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Callable

from unlearn.config import METHOD_CONFIGS, AttackConfig, Config, DataConfig, TrainConfig
from unlearn.config_parse import ConfigError, coerce, read_yaml
from unlearn.source_checks import check_source

CHOICES = {
    "data.objector_selection": ("random", "most_active", "canary_holders"),
    "data.languages": ("en", "de"),
    "schedule": ("cosine", "linear", "constant"),
    "precision": ("fp32", "bf16", "fp16"),
}
MIN_MAX_LENGTH = 8  # model.max_length: room for a few tokens of every text after the special ones
MIN_TINY_VOCAB = 260  # the tiny tokenizer's byte alphabet (256) and its 3 special tokens, plus one merge
MIN_BOOTSTRAP = 40  # fewer resamples leave no resample in a 2.5% tail of the 95% intervals


def _ge(lo, why=""):
    return lambda v: v >= lo, f"must be at least {lo}", why


def _gt(lo, why=""):
    return lambda v: v > lo, f"must be greater than {lo}", why


def _unit(why=""):
    return lambda v: 0.0 <= v <= 1.0, "must lie in [0, 1]", why


def _open_unit(why=""):
    return lambda v: 0.0 < v < 1.0, "must lie strictly between 0 and 1", why


# dotted key -> (test, what the value must be, why); NaN fails every test.
RANGES: dict[str, tuple[Callable, str, str]] = {
    "data.posts_per_user": _ge(1), "data.comments_per_user": _ge(0), "data.general_texts": _ge(0),
    "data.canaries_per_insertion": _ge(0), "data.reference_canaries": _ge(0),
    "data.objection_rounds": _ge(1, "the number of deletion requests"), "data.facts_per_text": _ge(1),
    "data.bilingual_fraction": _unit(), "data.chatter_fraction": _unit(), "data.mention_rate": _unit(),
    "data.forget_fraction": _open_unit(), "data.holdout_fraction": _open_unit(),
    "data.qa_train_users": (lambda v: 0.0 <= v < 1.0, "must lie in [0, 1)",
                            "the share of non-objecting members in the QA training set"),
    "data.qa_train_phrasings": (lambda v: 1 <= v <= 3, "must be 1, 2 or 3", "question phrasings per fact and language"),
    "model.layers": _ge(1), "model.hidden": _ge(1), "model.heads": _ge(1), "model.intermediate": _ge(1),
    "model.vocab_size": _ge(1), "model.max_length": _ge(MIN_MAX_LENGTH, "tokens per text"),
    "model.pretrain_users": _ge(0, "0: no pretraining"), "model.pretrain_epochs": _ge(0),
    "eval.batch_size": _ge(1), "eval.max_examples": _ge(0, "0: no cap"), "eval.generate_examples": _ge(0, "0: all"),
    "eval.qa_users": _ge(0, "0: all"), "eval.max_new_tokens": _ge(1), "eval.extraction_n": _ge(1),
    "eval.extraction_p": (lambda v: 0.0 < v <= 1.0, "must lie in (0, 1]", ""),
    "eval.exposure_exact_max": _ge(0), "eval.exposure_samples": _ge(10, "the skew-normal fit needs a sample"),
    "eval.exposure_batch": _ge(1),
    "eval.bootstrap": _ge(MIN_BOOTSTRAP, "fewer resamples leave no resample in a 2.5% tail of the 95% intervals"),
    "eval.workers": _ge(1),
    "attacks.relearn_batch_size": _ge(1), "attacks.quantize_group": _ge(0, "0: one scale per output channel"),
    "attacks.prompting_shots": _ge(0), "attacks.sampling_n": _ge(1, "temperature-1 samples per prompt"),
    "attacks.sampling_top_k": _ge(0, "0: plain sampling"),
    "attacks.lens_top_k": _ge(1, "top tokens per layer that count as stating a value"),
    "attacks.relearn_tolerance": _ge(0, "the relative rise of the original's held-out NLL allowed"),
    "sisa.shards": _ge(1), "sisa.slices": _ge(1), "sisa.lora_rank": _ge(1), "sisa.epochs": _ge(0, "0: finetune.epochs"),
    "sisa.lr": _ge(0, "0: finetune.lr"), "sisa.lora_alpha": _gt(0),
    "retrain.replicates": _ge(1, "2 or more for a verdict: the reference needs a spread"),
    "frontier.collapse_retain_nll": _gt(1), "frontier.collapse_fluency": _open_unit(),
    "tuning.val_fraction": _open_unit("the share of forget and retain texts held out for tuning"),
    "tuning.min_utility": _gt(0),
}
TRAIN_RANGES: dict[str, tuple[Callable, str, str]] = {
    "lr": _gt(0), "epochs": _ge(0), "max_steps": _ge(0, "0: no cap"), "batch_size": _ge(1), "grad_accum": _ge(1),
    "warmup_ratio": (lambda v: 0.0 <= v < 1.0, "must lie in [0, 1)", "the share of steps spent warming up"),
    "weight_decay": _ge(0),
    "max_grad_norm": _gt(0, "the gradient is always clipped to this norm; a large value such as 1e9 leaves it "
                            "unclipped"),
    "log_every": _ge(1), "stop_forget_nll": _ge(0, "0: never stop early"),
}
# Method knobs by name (every method that has one means the same by it).
KNOB_RANGES: dict[str, tuple[Callable, str, str]] = {
    "alpha": _ge(0, "the weight of the retain term"), "beta": _gt(0), "steering_coef": _gt(0), "scale": _gt(0),
    "layer": _ge(0), "seed": _ge(0),
}


def _range(bad, key: str, value, rule: tuple[Callable, str, str]) -> None:
    ok, must, why = rule
    if not ok(value):
        bad(key, f"{must}, got {value!r}" + (f" ({why})" if why else ""))


def check_values(cfg: Config, sources: dict[str, str]) -> None:
    """The run name, enumerated choices, ranges, sizes and the model name."""
    from unlearn.models import check_model_name  # late import: models import config

    def bad(key: str, message: str):
        raise ConfigError(f"{_where(key, sources)}: '{key}' {message}")

    _check_name(cfg.name, bad)
    _check_finite(cfg, "", bad)
    for key, rule in RANGES.items():
        _range(bad, key, _get(cfg, key), rule)
    if cfg.data.objector_selection not in CHOICES["data.objector_selection"]:
        bad("data.objector_selection", f"must be one of {', '.join(CHOICES['data.objector_selection'])}")
    if not cfg.data.languages:
        bad("data.languages", f"must list at least one language (valid: {', '.join(CHOICES['data.languages'])})")
    for lang in cfg.data.languages:
        if lang not in CHOICES["data.languages"]:
            bad("data.languages", f"has unknown language '{lang}' (valid: en, de)")
    _distinct("data.languages", cfg.data.languages, bad)
    if cfg.precision not in CHOICES["precision"]:
        bad("precision", f"must be one of {', '.join(CHOICES['precision'])} (mixed precision of the training loops)")
    fm = cfg.data.fact_mentions
    if len(fm) != 2 or not 1 <= fm[0] <= fm[1]:
        bad("data.fact_mentions", "must be [lo, hi] with 1 <= lo <= hi (texts of a user stating each fact)")
    if any(r < 1 for r in cfg.data.canary_insertions):
        bad("data.canary_insertions", f"must list insertion counts of at least 1 (got {list(cfg.data.canary_insertions)})")
    _distinct("data.canary_insertions", cfg.data.canary_insertions, bad)
    check_source(cfg.data, bad)
    _check_model_sizes(cfg, bad)
    _check_seeds(cfg, bad)
    for prefix, train in [("finetune", cfg.finetune)] + [(f"methods.{m.name}", m.train) for m in cfg.methods]:
        _check_train(prefix, train, bad)
    _check_methods(cfg, bad)
    if cfg.tune and cfg.data.objection_rounds > 1:
        bad("tune", "with data.objection_rounds > 1 is not supported: tune on one round, then run the rounds")
    _check_attacks(cfg.attacks, cfg.data, bad)
    f = cfg.frontier
    if not f.multipliers or min(f.multipliers) <= 0:
        bad("frontier.multipliers", "must list positive multiples of each method's step count")
    _distinct("frontier.multipliers", f.multipliers, bad)
    unknown = [m for m in f.methods if m not in {s.name for s in cfg.methods}]
    if unknown:
        bad("frontier.methods", f"names methods this config does not run: {', '.join(unknown)}")
    if not 0.0 < cfg.verdict.alpha < 0.5 or not cfg.verdict.margin > 0:
        bad("verdict", "needs 0 < alpha < 0.5 and margin > 0")
    check_model_name(cfg.model.name, _where("model.name", sources))


def _where(key: str, sources: dict[str, str]) -> str:
    """The file (or `command line`) that set `key`: a method's own YAML for its untouched keys."""
    if key in sources:
        return sources[key]
    parts = key.split(".")
    if parts[0] == "methods" and len(parts) >= 3:
        path = METHOD_CONFIGS / f"{parts[1]}.yaml"
        node = read_yaml(path) if path.is_file() else {}
        for part in parts[2:]:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return str(path)
    for cut in range(len(parts) - 1, 0, -1):  # a parent set as a whole
        parent = ".".join(parts[:cut])
        if parent in sources:
            return sources[parent]
    return "config"


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _distinct(key: str, values, bad) -> None:
    repeated = sorted({v for v in values if list(values).count(v) > 1}, key=str)
    if repeated:
        bad(key, f"lists {', '.join(map(str, repeated))} more than once; list each value once")


def _check_name(name: str, bad) -> None:
    """`name` becomes the folder runs/<name>/: a plain folder name, nothing that leaves runs/."""
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0") or name != name.strip():
        bad("name", f"must be a plain folder name (not empty, no '/' or '\\', not '.' or '..', no leading or "
                    f"trailing spaces), got {name!r}: the run is written to runs/<name>/")


def _check_finite(obj, prefix: str, bad) -> None:
    """Every float in the config is a finite number (YAML reads .nan and .inf as floats)."""
    if isinstance(obj, float):
        if not math.isfinite(obj):
            bad(prefix.rstrip("."), f"must be a finite number, got {obj!r}")
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _check_finite(item, prefix, bad)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name == "methods" and prefix == "":
                for spec in obj.methods:
                    _check_finite(spec.train, f"methods.{spec.name}.", bad)
                    _check_finite(spec.params, f"methods.{spec.name}.", bad)
            elif f.name != "grid":
                _check_finite(getattr(obj, f.name), f"{prefix}{f.name}.", bad)


def _check_model_sizes(cfg: Config, bad) -> None:
    m = cfg.model
    if m.hidden % m.heads:
        bad("model.heads", f"must divide model.hidden (got heads {m.heads}, hidden {m.hidden})")
    if (m.hidden // m.heads) % 2:
        bad("model.heads", f"must leave an even head size hidden/heads for the rotary embedding "
                           f"(got {m.hidden}/{m.heads} = {m.hidden // m.heads})")
    if m.name == "tiny" and m.vocab_size < MIN_TINY_VOCAB:
        bad("model.vocab_size", f"must be at least {MIN_TINY_VOCAB} for the tiny model (its byte-level "
                                f"tokenizer has 256 byte tokens and 3 special ones), got {m.vocab_size}")
    if m.pretrain_users > 0 and not m.pretrain_epochs > 0:
        bad("model.pretrain_epochs", "must be greater than 0 when model.pretrain_users > 0 "
                                     "(set model.pretrain_users: 0 to skip pretraining)")
    if m.base_seed is not None and m.base_seed < 0:
        bad("model.base_seed", f"must be at least 0 or null, got {m.base_seed}")


def _check_seeds(cfg: Config, bad) -> None:
    if not cfg.seeds:
        bad("seeds", "must list at least one seed")
    if min(cfg.seeds) < 0:
        bad("seeds", f"must not be negative (got {list(cfg.seeds)})")
    _distinct("seeds", cfg.seeds, bad)
    if cfg.model.base_seed is not None:
        from unlearn.models import TOKENIZER_SEED_OFFSET
        from unlearn.pretrain import PRETRAIN_SEED_OFFSET

        drawn = {cfg.model.base_seed + TOKENIZER_SEED_OFFSET, cfg.model.base_seed + PRETRAIN_SEED_OFFSET}
        if drawn & set(cfg.seeds):
            bad("seeds", f"must not contain {sorted(drawn)}: the tiny base model's tokenizer and pretraining "
                         "text are drawn with those seeds (model.base_seed plus a fixed offset)")


def _check_train(prefix: str, train: TrainConfig, bad) -> None:
    if train.schedule not in CHOICES["schedule"]:
        bad(f"{prefix}.schedule", f"must be one of {', '.join(CHOICES['schedule'])}")
    for key, rule in TRAIN_RANGES.items():
        _range(bad, f"{prefix}.{key}", getattr(train, key), rule)


def _check_methods(cfg: Config, bad) -> None:
    """Each method's knobs, and every variant of its tuning grid as a whole."""
    for spec in cfg.methods:
        variants = [(spec.train, spec.params)]
        for key, values in spec.grid:
            for value in values:
                target = "train" if hasattr(spec.train, key) else "params"
                hint = typing.get_type_hints(type(getattr(spec, target)))[key]
                value = coerce(hint, value, f"methods.{spec.name}.grid.{key}", "config", {})  # 1e-4 -> float
                train = dataclasses.replace(spec.train, **{key: value}) if target == "train" else spec.train
                params = dataclasses.replace(spec.params, **{key: value}) if target == "params" else spec.params
                variants.append((train, params))
        for i, (train, params) in enumerate(variants):
            prefix = f"methods.{spec.name}" if i == 0 else f"methods.{spec.name}.grid"
            if i:
                _check_finite(train, prefix + ".", bad)
                _check_finite(params, prefix + ".", bad)
                _check_train(prefix, train, bad)
            for f in dataclasses.fields(params):
                if f.name in KNOB_RANGES:
                    _range(bad, f"{prefix}.{f.name}", getattr(params, f.name), KNOB_RANGES[f.name])
            if spec.name == "rmu" and cfg.model.name == "tiny" and params.layer >= cfg.model.layers:
                bad(f"{prefix}.layer", f"must name a decoder layer of the tiny model: 0..{cfg.model.layers - 1} "
                                       f"(model.layers is {cfg.model.layers}), got {params.layer}")


def _check_attacks(a: AttackConfig, d: DataConfig, bad) -> None:
    """Attack names, relearning protocols and steps, quantization widths, the probe's label."""
    from unlearn.attacks import ATTACKS  # late import: attacks import metrics
    from unlearn.corpus.tables import USER_FEATURES

    for name in a.names:
        if name not in ATTACKS:
            bad("attacks.names", f"has unknown attack '{name}' (valid: {', '.join(ATTACKS)})")
    _distinct("attacks.names", a.names, bad)
    if not set(a.relearn_protocols) <= {"a", "b", "c"} or not a.relearn_protocols:
        bad("attacks.relearn_protocols", "must list some of a (other facts), b (other users), c (unrelated)")
    if 0 not in a.relearn_steps or min(a.relearn_steps) < 0:
        bad("attacks.relearn_steps", "must include 0 (the baseline) and no negative counts")
    _distinct("attacks.relearn_steps", a.relearn_steps, bad)
    if not a.relearn_lr > 0 or any(not lr > 0 for lr in a.relearn_lr_candidates):
        bad("attacks.relearn_lr", "and every attacks.relearn_lr_candidates rate must be positive")
    if a.relearn_lr_candidates and max(a.relearn_steps) == 0:
        bad("attacks.relearn_lr_candidates", "needs a step count above 0 in attacks.relearn_steps to calibrate on")
    if not a.quantize_bits or not all(2 <= b <= 8 for b in a.quantize_bits):
        bad("attacks.quantize_bits", "must list widths between 2 and 8")
    labels = [k for k, v in USER_FEATURES.items()
              if getattr(v, "dtype", None) == "string" and k not in ("user_id", "name", "handle", "group")]
    if "probe" in a.names and d.source == "synthetic" and a.probe_attribute not in labels:
        bad("attacks.probe_attribute", f"must be a column of the users table (valid: {', '.join(labels)}), "
                                       f"got {a.probe_attribute!r}")
