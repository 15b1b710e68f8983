"""Value checks of a loaded config: enumerated choices, ranges, attack and SISA settings, the
model name. Each failure raises ConfigError naming the file (or command line) and the key."""
from __future__ import annotations

from unlearn.config import AttackConfig, Config
from unlearn.config_parse import ConfigError

CHOICES = {
    "data.objector_selection": ("random", "most_active", "canary_holders"),
    "data.languages": ("en", "de"),
    "schedule": ("cosine", "linear", "constant"),
}


def check_values(cfg: Config, sources: dict[str, str]) -> None:
    """Enumerated choices, ranges and the model name."""
    from unlearn.models import check_model_name  # late import: models import config

    def bad(key: str, message: str):
        raise ConfigError(f"{sources.get(key, 'config')}: '{key}' {message}")

    if cfg.data.objector_selection not in CHOICES["data.objector_selection"]:
        bad("data.objector_selection", f"must be one of {', '.join(CHOICES['data.objector_selection'])}")
    for lang in cfg.data.languages:
        if lang not in CHOICES["data.languages"]:
            bad("data.languages", f"has unknown language '{lang}' (valid: en, de)")
    for prefix, train in [("finetune", cfg.finetune)] + [(f"methods.{m.name}", m.train) for m in cfg.methods]:
        if train.schedule not in CHOICES["schedule"]:
            bad(f"{prefix}.schedule", f"must be one of {', '.join(CHOICES['schedule'])}")
        if train.batch_size < 1 or train.grad_accum < 1 or train.lr <= 0:
            bad(prefix, "needs batch_size >= 1, grad_accum >= 1 and lr > 0")
    for key in ("forget_fraction", "holdout_fraction"):
        if not 0.0 < getattr(cfg.data, key) < 1.0:
            bad(f"data.{key}", "must lie strictly between 0 and 1")
    fm = cfg.data.fact_mentions
    if len(fm) != 2 or not 1 <= fm[0] <= fm[1]:
        bad("data.fact_mentions", "must be [lo, hi] with 1 <= lo <= hi (texts of a user stating each fact)")
    if cfg.data.facts_per_text < 1:
        bad("data.facts_per_text", "must be at least 1")
    if not 0.0 <= cfg.data.qa_train_users < 1.0:
        bad("data.qa_train_users", "must lie in [0, 1): the share of non-objecting members in the QA training set")
    if not 1 <= cfg.data.qa_train_phrasings <= 3:
        bad("data.qa_train_phrasings", "must be 1, 2 or 3 (question phrasings per fact and language)")
    if not cfg.seeds:
        bad("seeds", "must list at least one seed")
    if cfg.model.base_seed is not None:
        from unlearn.models import TOKENIZER_SEED_OFFSET
        from unlearn.pretrain import PRETRAIN_SEED_OFFSET

        drawn = {cfg.model.base_seed + TOKENIZER_SEED_OFFSET, cfg.model.base_seed + PRETRAIN_SEED_OFFSET}
        if drawn & set(cfg.seeds):
            bad("seeds", f"must not contain {sorted(drawn)}: the tiny base model's tokenizer and pretraining "
                         "text are drawn with those seeds (model.base_seed plus a fixed offset)")
    if cfg.eval.extraction_n < 1 or not 0.0 < cfg.eval.extraction_p <= 1.0:
        bad("eval.extraction_n", "needs extraction_n >= 1 and 0 < extraction_p <= 1")
    if cfg.eval.exposure_samples < 10:
        bad("eval.exposure_samples", "must be at least 10 (the skew-normal fit needs a sample)")
    if cfg.tune and cfg.data.objection_rounds > 1:
        bad("tune", "with data.objection_rounds > 1 is not supported: tune on one round, then run the rounds")
    _check_attacks(cfg.attacks, bad)
    if cfg.eval.workers < 1:
        bad("eval.workers", "must be at least 1")
    if cfg.sisa.shards < 1 or cfg.sisa.slices < 1 or cfg.sisa.lora_rank < 1 or cfg.sisa.epochs < 0 or cfg.sisa.lr < 0:
        bad("sisa", "needs shards >= 1, slices >= 1, lora_rank >= 1, epochs >= 0 and lr >= 0")
    if cfg.retrain.replicates < 1:
        bad("retrain.replicates", "must be at least 1 (2 or more for a verdict: the reference needs a spread)")
    f = cfg.frontier
    if not f.multipliers or min(f.multipliers) <= 0:
        bad("frontier.multipliers", "must list positive multiples of each method's step count")
    if f.collapse_retain_nll <= 1 or not 0 < f.collapse_fluency < 1:
        bad("frontier", "needs collapse_retain_nll > 1 and 0 < collapse_fluency < 1")
    unknown = [m for m in f.methods if m not in {s.name for s in cfg.methods}]
    if unknown:
        bad("frontier.methods", f"names methods this config does not run: {', '.join(unknown)}")
    if not 0.0 < cfg.verdict.alpha < 0.5 or cfg.verdict.margin <= 0:
        bad("verdict", "needs 0 < alpha < 0.5 and margin > 0")
    check_model_name(cfg.model.name, sources.get("model.name", "config"))


def _check_attacks(a: AttackConfig, bad) -> None:
    """Attack names, relearning protocols and steps, quantization widths."""
    from unlearn.attacks import ATTACKS  # late import: attacks import metrics

    for name in a.names:
        if name not in ATTACKS:
            bad("attacks.names", f"has unknown attack '{name}' (valid: {', '.join(ATTACKS)})")
    if not set(a.relearn_protocols) <= {"a", "b", "c"} or not a.relearn_protocols:
        bad("attacks.relearn_protocols", "must list some of a (other facts), b (other users), c (unrelated)")
    if 0 not in a.relearn_steps or min(a.relearn_steps) < 0:
        bad("attacks.relearn_steps", "must include 0 (the baseline) and no negative counts")
    if a.relearn_lr <= 0 or any(lr <= 0 for lr in a.relearn_lr_candidates):
        bad("attacks.relearn_lr", "and every attacks.relearn_lr_candidates rate must be positive")
    if a.relearn_tolerance < 0:
        bad("attacks.relearn_tolerance", "must be at least 0 (the relative rise of the original's held-out NLL allowed)")
    if a.relearn_lr_candidates and max(a.relearn_steps) == 0:
        bad("attacks.relearn_lr_candidates", "needs a step count above 0 in attacks.relearn_steps to calibrate on")
    if not a.quantize_bits or not all(2 <= b <= 8 for b in a.quantize_bits):
        bad("attacks.quantize_bits", "must list widths between 2 and 8")
    if a.sampling_n < 1:
        bad("attacks.sampling_n", "must be at least 1 (temperature-1 samples per prompt)")
    if a.lens_top_k < 1:
        bad("attacks.lens_top_k", "must be at least 1 (top tokens per layer that count as stating a value)")
