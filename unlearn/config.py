"""Experiment configuration: YAML -> frozen dataclasses, strictly validated.

An experiment file states only what differs from `configs/base.yaml`; `key=value` pairs on the
command line override both (`finetune.lr=1e-3`, `unlearn.methods=[ga]`). Every mistake raises
`ConfigError` naming the file, the dotted key and the valid choices; the CLI turns it into one
line and exit code 2.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from unlearn.config_parse import ConfigError, merge, nest, note_sources, read_yaml, to_dataclass

ROOT = Path(__file__).resolve().parent.parent
BASE_CONFIG = ROOT / "configs" / "base.yaml"
METHOD_CONFIGS = ROOT / "configs" / "methods"


@dataclass(frozen=True)
class DataConfig:
    """The synthetic social network (or the user's own corpus) and who objects."""

    source: str = "synthetic"  # "synthetic", or a JSONL/CSV file or datasets folder of your own
    forget_users: str | None = None  # own corpus only: file listing objecting user ids, one per line
    n_users: int = 150  # members + holdout users
    holdout_fraction: float = 0.2  # users never trained on (non-members for membership inference)
    languages: tuple[str, ...] = ("en", "de")
    bilingual_fraction: float = 0.1  # users who write in both languages
    posts_per_user: int = 6  # posts per user, facts and chatter together
    chatter_fraction: float = 0.3  # share of posts without personal data
    fact_mentions: tuple[int, ...] = (1, 6)  # [lo, hi]: each fact of a user is stated in a uniform
    # draw from lo..hi of the user's own texts (bio and posts, differently worded); recorded per fact
    facts_per_text: int = 3  # a fact text states at most this many facts (users with many mentions post more)
    qa_train_users: float = 0.5  # share of non-objecting members whose questions and answers train the assistant
    qa_train_phrasings: int = 1  # question phrasings per fact and language in that training set (1-3; 1: the one evaluated)
    comments_per_user: int = 2  # comments each user writes about other users
    mention_rate: float = 0.3  # probability that a comment reveals a fact about the mentioned user
    forget_fraction: float = 0.1  # share of members who object
    objection_rounds: int = 1  # sequential deletion requests
    objector_selection: str = "random"  # random | most_active | canary_holders
    canary_insertions: tuple[int, ...] = (1, 2, 4, 8, 16)
    canaries_per_insertion: int = 2  # canaries planted per insertion count
    reference_canaries: int = 10  # unplanted canaries of the same formats, for calibration
    general_texts: int = 100  # non-personal texts for utility checks


@dataclass(frozen=True)
class ModelConfig:
    """Which base model, and the architecture of the from-scratch `tiny` model."""

    name: str = "tiny"  # tiny | smollm2-135m | a local folder or hub id
    layers: int = 4
    hidden: int = 128
    heads: int = 4
    intermediate: int = 384
    vocab_size: int = 2000  # BPE vocabulary trained for `tiny` (on text from another seed)
    max_length: int = 128  # tokens per text; longer texts are truncated
    pretrain_users: int = 0  # tiny only, > 0: pretrain the initialisation on a network of this many other
    # people (drawn with another seed, QA pairs for most members) before fine-tuning (pipeline.pretrain)
    pretrain_epochs: float = 4.0  # passes over that network
    base_seed: int | None = 0  # tiny only: the seed of its tokenizer, initialisation and pretraining, the
    # same for every run seed, as a released checkpoint is (null: drawn anew with each run seed)


@dataclass(frozen=True)
class TrainConfig:
    """One run of the training loop (fine-tuning, or an unlearning method's optimisation)."""

    lr: float = 1e-3
    epochs: float = 20.0  # passes over the primary split (fractions allowed)
    max_steps: int = 0  # > 0 caps the optimizer steps
    batch_size: int = 16  # global batch per micro-step (split across processes)
    grad_accum: int = 1
    warmup_ratio: float = 0.05
    schedule: str = "cosine"  # cosine | linear | constant
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    log_every: int = 10  # steps between entries of the unlearning curve
    stop_forget_nll: float = 0.0  # > 0: stop once the curve's forget NLL exceeds this bound


@dataclass(frozen=True)
class MethodSpec:
    """One unlearning method: its name, training settings and the method's own knobs."""

    name: str
    train: TrainConfig
    params: Any  # the method class's frozen `Config`
    grid: tuple[tuple[str, tuple], ...] = ()  # (key, values) to sweep when tuning


@dataclass(frozen=True)
class UnlearnConfig:
    methods: tuple[str, ...] = ("corpus_deletion", "ga", "graddiff", "ga_kl", "npo", "simnpo", "retain_ft",
                                "rmu", "task_vector", "idk_dpo")


@dataclass(frozen=True)
class EvalConfig:
    """What every model is measured on (metrics/evaluate.py); the teacher-forced metrics use all
    evaluation texts, the decoding ones a seeded subset so that evaluation stays cheap."""

    batch_size: int = 32
    max_examples: int = 0  # > 0 caps examples per split (for very large corpora)
    generate_examples: int = 64  # texts per split for verbatim continuation (0 = all)
    qa_users: int = 10  # users per split whose questions are asked (phrasing 0, both languages; 0 = all)
    max_new_tokens: int = 32  # cap on decoded tokens (verbatim continuations)
    extraction_n: int = 100  # (n, p)-extraction: samples an attacker draws ...
    extraction_p: float = 0.5  # ... and the probability of seeing the value at least once
    exposure_exact_max: int = 10_000  # rank canaries exactly up to this candidate space, else extrapolate
    exposure_samples: int = 500  # sampled candidates for the skew-normal extrapolation
    exposure_batch: int = 512  # trie nodes per cached forward step when ranking candidates
    bootstrap: int = 1000  # resamples for the 95% intervals
    workers: int = 1  # > 1: evaluate and attack models in this many 1-thread processes (unlearn/parallel.py)


@dataclass(frozen=True)
class AttackConfig:
    """Attacks that try to bring removed data back (unlearn/attacks/), each also run on retrain
    (the control) and original (the ceiling)."""

    names: tuple[str, ...] = ("relearn", "quantize", "prompting", "sampling", "probe", "lens")
    relearn_protocols: tuple[str, ...] = ("a", "b", "c")  # a: other facts, b: other users, c: unrelated
    relearn_steps: tuple[int, ...] = (0, 10, 25, 50)  # measured after each of these many steps
    relearn_lr: float = 1.0e-4  # used as is when relearn_lr_candidates is () (else calibrate() picks per seed)
    relearn_lr_candidates: tuple[float, ...] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)
    relearn_tolerance: float = 0.05  # the most a rate may raise the original's held-out NLL (relative)
    relearn_batch_size: int = 4
    quantize_bits: tuple[int, ...] = (8, 4)
    quantize_group: int = 0  # 0: one scale per output channel; > 0: per group of this many inputs
    prompting_shots: int = 3  # k-shot prefixes built from retain users' facts
    sampling_n: int = 64  # samples per prompt at temperature 1; pass@k reported for k in 1, 8, 64 up to n
    sampling_top_k: int = 0  # 0: plain temperature-1 sampling; > 0: top-k
    probe_attribute: str = "city"  # a small label set; the probe trains on retain users only
    lens_top_k: int = 1  # logit lens: a layer states a value if each of its tokens ranks in the top k there


@dataclass(frozen=True)
class SisaConfig:
    """Exact unlearning by SISA (unlearn/exact/sisa.py): users in shards, shards in slices."""

    enabled: bool = True  # train SISA on the members and delete the objecting users from it
    shards: int = 4  # constituent models; each user's texts go to exactly one
    slices: int = 4  # per shard, trained incrementally with a checkpoint after each
    epochs: float = 0.0  # data passes per constituent over its shard (0: finetune.epochs)
    lr: float = 0.0  # constituent learning rate (0: finetune.lr; LoRA adapters usually want more)
    lora_rank: int = 8  # pretrained base models: one LoRA adapter per shard (tiny: full copies)
    lora_alpha: float = 16.0


@dataclass(frozen=True)
class RetrainConfig:
    """The retrain reference: models trained on the retain users only, with the original's recipe."""

    replicates: int = 3  # reference models per seed, differing only in their training seed
    null_control: bool = True  # one more replicate, held out of the reference and judged like a method


@dataclass(frozen=True)
class VerdictConfig:
    """How every judged model is tested against the retrain reference (report/verdict.py)."""

    alpha: float = 0.05  # family-wise error rate of each model's tests (Holm), and the TOST level
    margin: float = 4.0  # equivalence margin, in standard deviations of retrain-minus-retrain differences


@dataclass(frozen=True)
class FrontierConfig:
    """The removal frontier (unlearn/frontier.py): every method at growing strength, judged at each."""

    enabled: bool = False  # `unlearn frontier CONFIG` sets it
    multipliers: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # x the method's own step count
    collapse_retain_nll: float = 2.0  # stop once retain NLL >= this x the retrain reference's ...
    collapse_fluency: float = 0.5  # ... or fluency < this x the original's
    methods: tuple[str, ...] = ()  # () = every configured method that trains


@dataclass(frozen=True)
class TuningConfig:
    """Fair tuning: the same rule for every method, applied on validation texts only."""

    val_fraction: float = 0.2  # forget and retain texts held out of evaluation for tuning
    min_utility: float = 0.95  # keep variants with retain utility >= this share of the retrain reference's


@dataclass(frozen=True)
class Config:
    name: str = "base"
    seeds: tuple[int, ...] = (0,)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    finetune: TrainConfig = field(default_factory=TrainConfig)
    unlearn: UnlearnConfig = field(default_factory=UnlearnConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    attacks: AttackConfig = field(default_factory=AttackConfig)
    sisa: SisaConfig = field(default_factory=SisaConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    verdict: VerdictConfig = field(default_factory=VerdictConfig)
    frontier: FrontierConfig = field(default_factory=FrontierConfig)
    tune: bool = False  # sweep each method's `grid` and keep the variant the tuning rule picks
    tuning: TuningConfig = field(default_factory=TuningConfig)
    tracking: str = "none"  # none | tensorboard | wandb | mlflow: loss curves and final metrics (unlearn/tracking.py)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (GPU only): mixed precision of every training loop, via accelerate
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, more time
    methods: tuple[MethodSpec, ...] = ()  # resolved from `unlearn.methods` + `methods.<name>`
    _resolved: ClassVar[tuple[str, ...]] = ("methods",)  # not a YAML key of its own


# ----------------------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read base.yaml, merge the experiment file and `key=value` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    raw = read_yaml(BASE_CONFIG)
    sources: dict[str, str] = {}  # dotted key -> file that set it, for error messages
    note_sources(raw, str(BASE_CONFIG), sources)
    if path.resolve() != BASE_CONFIG.resolve():
        exp = read_yaml(path)
        note_sources(exp, str(path), sources)
        raw = merge(raw, exp)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"command line: override '{item}' must look like key=value")
        if any(not part.strip() for part in key.split(".")):
            raise ConfigError(f"command line: override '{item}' has an empty part in its key; "
                              "write dotted keys like finetune.lr=1e-3")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:  # malformed, or a tag such as !!python/object (safe_load refuses it)
            raise ConfigError(f"command line: override '{item}' is not valid YAML ({str(err).splitlines()[0]}); "
                              "quote a string, write a list as [a, b] and a mapping as {k: v}") from None
        note_sources(nest(key, parsed), "command line", sources)  # the key and every key inside its value
        raw = merge(raw, nest(key, parsed))
    return build_config(raw, sources)


def build_config(raw: dict, sources: dict[str, str] | None = None) -> Config:
    """Validate a merged dict into a `Config`; `sources` maps keys to where they came from."""
    sources = sources or {}
    raw = dict(raw)
    method_raw = raw.pop("methods", None) or {}
    cfg = to_dataclass(Config, raw, "", sources)
    from unlearn.config_checks import check_values  # late imports: both import this module
    from unlearn.config_methods import resolve_methods

    cfg = dataclasses.replace(cfg, methods=resolve_methods(cfg, method_raw, sources))
    check_values(cfg, sources)
    from unlearn.tracking import check_tracking  # the tracker's package is installed

    check_tracking(cfg.tracking, sources.get("tracking", "config"))
    return cfg


def compute_key(cfg: Config) -> dict:
    """The training numerics (precision, gradient checkpointing) for the keys of the stages that
    train, the relearning attack included; empty at the defaults (fp32, no checkpointing) so that
    caches built before these settings existed stay valid."""
    numerics = {**({"precision": cfg.precision} if cfg.precision != "fp32" else {}),
                **({"gradient_checkpointing": True} if cfg.gradient_checkpointing else {})}
    return {"compute": numerics} if numerics else {}


def to_dict(obj: Any) -> Any:
    """A config (or part of it) as plain JSON-able data, for hashing and results.json."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
