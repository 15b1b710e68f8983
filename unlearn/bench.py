"""`unlearn bench` (`make bench`): how close to the machine's limit, and how much cheaper than
retraining. Everything live is measured in this one process, side by side, as ratios:

- roof: the median of 30 fp32 2048x2048 matmuls, GFLOP/s (2·n³ flops each);
- training: tokens/s of `train.train` on fixed-length random token batches (tiny: the quick
  experiment's model, 32x64; SmolLM2-135M: 8x128) and the model-FLOPs utilisation
  6·N·tokens/s ÷ roof (N = parameters, Kaplan et al. 2020's 6N flops per trained token); for
  SmolLM2, whose target it is, against a roof measured just before and after its training;
- evaluation: the shared scoring pass (`metrics.scoring.score`: log-probs, top-1 and the Min-K%++
  vocabulary statistics) against a bare forward pass over the same batches; batched greedy
  generation tokens/s; canary exposure with the prefix-cached trie walk against naive scoring of
  all 10^4 candidates (tiny model: naive scoring on SmolLM2 would take minutes);
- cost of each method relative to retrain, from the quick run: wall time and counted FLOPs
  (unlearn/flops.py; machine load moves the first, never the second), reported, not targets;
- model load: the cached safetensors conversion of SmolLM2 against converting the GGUF file;
- corpus generation: users/s at 10,000 users.

The experiment-level figures (wall times, peak memory, the SmolLM2 evaluation speed-up) are read
from recorded runs: unlearn/bench_runs.py.
"""
from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from unlearn.bench_runs import _figure, experiment_figures

TINY_SHAPE, SMOLLM2_SHAPE = (32, 64), (8, 128)  # training batch x length


def roof(n: int = 2048, repeats: int = 30) -> float:
    """fp32 matmul GFLOP/s: the median of `repeats` products after 3 warm-up ones (a sustained
    rate: on this shared 2-vCPU machine the best single product swung 230-320 GFLOP/s)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    return 2 * n**3 / float(np.median([_timed(lambda: a @ b)[1] for _ in range(repeats)])) / 1e9


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _tokens(vocab: int, rows: int, length: int, seed: int = 0):
    """Fixed-length random token sequences (bos-free, no padding) as TokenData."""
    from unlearn.data import TokenData

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (rows, length), generator=g).tolist()
    return TokenData(ids, 0)


def training(model, shape: tuple[int, int], steps: int, peak: float) -> dict:
    """Tokens/s and MFU of `steps` optimizer steps (after one untimed warm-up step)."""
    from unlearn.config import TrainConfig
    from unlearn.pipeline import _nll_loss
    from unlearn.train import make_accelerator, train

    batch, length = shape
    data = {"train": _tokens(model.config.vocab_size, batch * (steps + 1), length)}
    acc = make_accelerator()
    run = lambda n: train(model, data, "train", _nll_loss, TrainConfig(lr=1e-5, max_steps=n, epochs=1.0,  # noqa: E731
                          batch_size=batch, warmup_ratio=0.0, schedule="constant"), 0, acc, desc="bench")
    run(1)
    _, wall = _timed(lambda: run(steps))
    tokens_s = steps * batch * length / wall
    n_params = sum(p.numel() for p in model.parameters())
    return {"tokens_s": tokens_s, "mfu": 6 * n_params * tokens_s / (peak * 1e9), "params": n_params}


@torch.inference_mode()
def scoring(model, rows: int, length: int, batch_size: int) -> dict:
    """The scoring pass vs a bare forward over the same batches: tokens/s each and the ratio."""
    from unlearn.data import collate
    from unlearn.metrics.scoring import score

    data = _tokens(model.config.vocab_size, rows, length, seed=1)
    model.eval()

    def bare():
        for start in range(0, rows, batch_size):
            batch = collate(data.ids[start:start + batch_size], 0)
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()

    bare()  # warm-up
    t_bare, t_score = [], []
    for _ in range(5):  # alternated, best of 5 each: this shared host's noise is ±20% per run
        t_bare.append(_timed(bare)[1])
        t_score.append(_timed(lambda: score(model, data, batch_size, "cpu"))[1])
    t_bare, t_score = min(t_bare), min(t_score)
    tokens = rows * length
    return {"forward_tokens_s": tokens / t_bare, "scoring_tokens_s": tokens / t_score, "ratio": t_bare / t_score}


def generation(model, prompts: int, prompt_len: int, new_tokens: int, batch_size: int) -> float:
    """Batched greedy decoding, new tokens/s (eos = the last vocabulary id, which random prompts
    rarely lead to; tokens after an eos are not counted)."""
    from unlearn.metrics.generate import generate

    ids = [[1] + row for row in _tokens(model.config.vocab_size, prompts, prompt_len, seed=2).ids]
    out, wall = _timed(lambda: generate(model, ids, new_tokens, batch_size, "cpu", pad_id=0,
                                                  eos_id=model.config.vocab_size - 1))
    return sum(len(o) for o in out) / wall


def exposure(model, tok) -> dict:
    """One 'd-d-d-d' canary (10^4 candidates): prefix-cached trie walk vs naive scoring."""
    from unlearn.metrics import exposure as ex

    context, pool = "lena vogel: my door code at the studio is ", ex.all_candidates("d-d-d-d")
    ex._encoded_trie(tok, context, pool)  # tokenising is shared by both: not timed
    cached, t_cached = _timed(lambda: ex.candidate_logprobs(model, tok, context, pool, 512))
    naive, t_naive = _timed(lambda: ex.candidate_logprobs_naive(model, tok, context, pool, 512))
    return {"cached_s": t_cached, "naive_s": t_naive, "speedup": t_naive / t_cached,
            "max_abs_diff": float(np.abs(cached - naive).max())}


def model_load() -> dict:
    """SmolLM2: load the cached safetensors vs convert the GGUF file (both to fp32)."""
    from transformers import AutoModelForCausalLM

    from unlearn.models import load_model, smollm2_cached, smollm2_gguf

    folder = smollm2_cached()
    _, t_cached = _timed(lambda: load_model(folder))
    gguf = smollm2_gguf()
    _, t_gguf = _timed(lambda: AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                                    dtype=torch.float32))
    return {"cached_s": t_cached, "gguf_s": t_gguf}


def corpus(n_users: int = 10_000) -> float:
    """Synthetic corpus generation with base.yaml's settings at `n_users` users, users/s."""
    from unlearn.config import ROOT, load_config
    from unlearn.corpus import build_corpus

    data = load_config(ROOT / "configs" / "base.yaml", [f"data.n_users={n_users}"]).data
    _, wall = _timed(lambda: build_corpus(data, 0))
    return n_users / wall


def run_bench(quick: Path | None, smollm2: Path | None, with_smollm2: bool = True, frontier: Path | None = None,
              eval_speed: Path | None = None) -> dict:
    """Every figure with its target; `with_smollm2=False` skips the pretrained model's parts."""
    from unlearn.config import ROOT, load_config
    from unlearn.models import build_tiny, load_model
    from unlearn.memory import freeze_long_lived, reuse_freed_memory

    reuse_freed_memory()  # as the experiment's main process does
    freeze_long_lived()
    torch.manual_seed(0)
    peak = roof()
    figs = {"roof_gflops": _figure(peak, "–", None, "GFLOP/s")}
    cfg = load_config(ROOT / "configs" / "experiments" / "quick.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        build_tiny(cfg, 0, Path(tmp))
        tiny, tok = load_model(Path(tmp))
    t = training(tiny, TINY_SHAPE, 20, peak)
    figs["tiny.train_tokens_s"] = _figure(t["tokens_s"], "–", None, "tokens/s")
    figs["tiny.train_mfu"] = _figure(t["mfu"], "–", None, "of roof")
    sc = scoring(tiny, 256, 64, 32)
    # the 0.90 target is the pretrained model's; the tiny model (its vocabulary statistics weigh more
    # beside a small forward) keeps the earlier 0.80
    figs["tiny.scoring_vs_forward"] = _figure(sc["ratio"], "≥ 0.80", sc["ratio"] >= 0.8, "× bare forward")
    figs["tiny.generate_tokens_s"] = _figure(generation(tiny, 64, 16, 32, 32), "–", None, "new tokens/s")
    e = exposure(tiny, tok)
    figs["tiny.exposure_cached_vs_naive"] = _figure(e["speedup"], "≥ 3", e["speedup"] >= 3, "× naive")
    if with_smollm2:
        load = model_load()
        figs["smollm2.load_cached_s"] = _figure(load["cached_s"], "< 1", load["cached_s"] < 1, "s")
        figs["smollm2.load_gguf_s"] = _figure(load["gguf_s"], "–", None, "s")
        from unlearn.models import smollm2_cached

        model, _ = load_model(smollm2_cached())
        # the host's speed drifts (roof 230-320 GFLOP/s within an hour here): judge the training
        # against a roof measured right around it, the mean of one before and one after
        before = roof(repeats=15)
        t = training(model, SMOLLM2_SHAPE, 8, peak)  # 4 steps scattered 0.43-0.58 here
        local = (before + roof(repeats=15)) / 2
        figs["smollm2.train_tokens_s"] = _figure(t["tokens_s"], "–", None, "tokens/s")
        mfu = t["mfu"] * peak / local
        figs["smollm2.train_mfu"] = _figure(mfu, "≥ 0.55", mfu >= 0.55, "of the roof around it")
        figs["smollm2.roof_around_training"] = _figure(local, "–", None, "GFLOP/s")
        sc = scoring(model, 64, 64, 16)  # ~8 s a side: shorter runs scattered 0.77-0.91 here
        figs["smollm2.scoring_vs_forward"] = _figure(sc["ratio"], "≥ 0.90", sc["ratio"] >= 0.9, "× bare forward")
        figs["smollm2.generate_tokens_s"] = _figure(generation(model, 16, 16, 16, 16), "–", None, "new tokens/s")
    users_s = corpus()
    figs["corpus.users_s_at_10k"] = _figure(users_s, "–", None, "users/s")
    figs.update(experiment_figures(quick, smollm2, frontier, eval_speed))
    return {"machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "figures": figs}


def table(results: dict) -> str:
    """The Markdown table of every figure."""
    rows = ["| figure | value | unit | target | holds | source |", "|---|---|---|---|---|---|"]
    for name, f in results["figures"].items():
        value = "–" if f["value"] is None else f"{f['value']:.3g}"
        holds = {True: "yes", False: "**no**", None: "–"}[f["holds"]]
        rows.append(f"| {name} | {value} | {f['unit']} | {f['target']} | {holds} | {f['source']} |")
    return "\n".join(rows)


def write(results: dict, out: Path) -> None:
    """experiments/bench/results.json and README.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    (out / "README.md").write_text(
        "# Benchmark (`make bench`)\n\n"
        f"Machine: {results['machine']}. Live figures are measured in one process by `unlearn bench`; "
        "experiment figures are read from the named run's results.json (see unlearn/bench.py).\n\n"
        + missed(results) + table(results) + "\n")


def missed(results: dict) -> str:
    """The targets that do not hold, each with its value beside the target ('' if none)."""
    rows = [f"- {name}: {f['value']:.3g} {f['unit']}, target {f['target']}"
            for name, f in results["figures"].items() if f["holds"] is False]
    return ("Targets missed:\n" + "\n".join(rows) + "\n\n") if rows else "Every judged target holds.\n\n"
