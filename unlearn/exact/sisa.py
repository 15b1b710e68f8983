"""SISA: exact unlearning by sharded, isolated, sliced, aggregated training.

Bourtoule et al. 2021, "Machine Unlearning" (arXiv 1912.03817). Users are split into S shards (a
user's texts in exactly one); one constituent model per shard, trained on its shard only, so a
user's data reaches one constituent and nothing else. Each shard's users are split into R
slices, trained incrementally: stage r trains on slices 0..r (cumulative), starting from the
checkpoint after stage r-1, and saves a checkpoint. Deleting users retrains only their shards,
from the checkpoint before the first slice that held their data. Predictions average the
constituents' next-token distributions (unlearn/exact/ensemble.py).

Exactness: a constituent's final weights are a deterministic function of (base model, the texts
of its slices in corpus order, the stage seeds, the recipe). After a deletion, every shard's
checkpoints therefore equal, bit for bit on CPU, those of a SISA trained from scratch on the
remaining users with the same seeds (`verify`; tests/test_sisa.py).

Choices and deviations:
- Assignment hashes (seed, user id): a user's shard and slice never depend on who else is there,
  so removing users moves nobody else (a seeded permutation would reshuffle everyone).
- Stage r runs e' = 2E/(R+1) epochs over its cumulative data (E = `sisa.epochs`, default the
  fine-tuning epochs): Σ_r e'·(r+1)/R = E, so each shard gets as many data passes in total as E
  epochs over it (our choice: slicing then adds no data passes). Slice-0 users are seen
  more often than last-slice users. Each stage has its own warm-up and schedule
  and a fresh AdamW: a checkpoint is the weights alone, so resuming from it is exactly what the
  uninterrupted run did.
- A constituent sees 1/S of the data for the same passes, i.e. ~1/S of the single model's
  optimizer steps: a model trained from scratch (tiny) learns far less than the single model,
  a pretrained one far less is lost. That utility cost is the trade-off SISA makes.
- Constituents: a full copy of the base model for the tiny model trained from scratch; for a
  pretrained base, a LoRA adapter (peft; Hu et al. 2021, arXiv 2106.09685) on the frozen base,
  as in SISA with adapters (arXiv 2212.09573, 2406.16257).
- A shard left without texts keeps no constituent (the aggregate averages the others).
- Cost: the wall time and optimizer steps of the stages actually run; a deletion reuses the
  untouched checkpoints and records which slice each shard restarted from.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unlearn.config import Config, TrainConfig
from unlearn.data import encode
from unlearn.losses import batch_nll
from unlearn.accel import need_whole_weights
from unlearn.flops import FlopCounter
from unlearn.train import train

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def place(user_id: str, seed: int, shards: int, slices: int) -> tuple[int, int]:
    """(shard, slice) of a user: a hash of (seed, user id), independent of every other user."""
    h = int(hashlib.sha256(f"sisa-{seed}-{user_id}".encode()).hexdigest()[:16], 16)
    return h % shards, (h // shards) % slices


def layout(user_ids: list[str], seed: int, shards: int, slices: int) -> list[list[list[int]]]:
    """[shard][slice] -> indices of the texts (in corpus order) whose author is placed there."""
    out = [[[] for _ in range(slices)] for _ in range(shards)]
    for i, uid in enumerate(user_ids):
        s, r = place(uid, seed, shards, slices)
        out[s][r].append(i)
    return out


def stage_seed(seed: int, shard: int, slice_: int) -> int:
    """The training seed of one (shard, slice) stage."""
    return int(hashlib.sha256(f"sisa-train-{seed}-{shard}-{slice_}".encode()).hexdigest()[:8], 16)


def uses_lora(cfg: Config) -> bool:
    """Constituents are LoRA adapters on a pretrained base, full copies for the tiny model."""
    return cfg.model.name != "tiny"


def _constituent(base_dir: Path, cfg: Config, seed: int, shard: int):
    """A fresh constituent: the base model, with a seeded LoRA adapter on pretrained bases."""
    from unlearn.models import load_model  # late import: models import the ensemble loader

    model, tok = load_model(base_dir)
    if uses_lora(cfg):
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(stage_seed(seed, shard, -1))  # the adapter's random init
        targets = [t for t in LORA_TARGETS if any(n.endswith(t) for n, _ in model.named_modules())]
        model = get_peft_model(model, LoraConfig(r=cfg.sisa.lora_rank, lora_alpha=cfg.sisa.lora_alpha,
                                                 lora_dropout=0.0, target_modules=targets))
    return model, tok


def trainable_state(model, lora: bool) -> dict[str, torch.Tensor]:
    """What a checkpoint holds: the adapter weights (LoRA) or every weight (full copy)."""
    if lora:
        from peft import get_peft_model_state_dict

        return {k: v.detach().clone().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def load_trainable(model, state: dict[str, torch.Tensor], lora: bool) -> None:
    """Put a checkpoint's weights into a constituent."""
    if lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, state)
    else:
        model.load_state_dict(state)


def stage_cfg(cfg: Config) -> TrainConfig:
    """One slice stage: the fine-tuning recipe for 2E/(R+1) epochs (module docstring), at
    `sisa.lr` if set."""
    total = cfg.sisa.epochs or cfg.finetune.epochs
    return dataclasses.replace(cfg.finetune, epochs=2 * total / (cfg.sisa.slices + 1), lr=cfg.sisa.lr or cfg.finetune.lr)


def _nll_loss(model, ref_model, batch):
    return batch_nll(model, batch["train"]), {}


def build_sisa(cfg: Config, seed: int, base_dir: Path, texts: list[str], user_ids: list[str], out: Path, acc,
               previous: Path | None = None) -> dict:
    """Train SISA on `texts` into `out/model` (every checkpoint, `sisa.json`, the tokenizer).

    With `previous` (an earlier SISA model folder trained on a superset of these texts, same
    seed and settings), only shards that lost users are retrained, from the checkpoint before
    the first slice that held a removed user; the other checkpoints are copied."""
    need_whole_weights(acc, "SISA (a checkpoint of every slice)")
    S, R, lora = cfg.sisa.shards, cfg.sisa.slices, uses_lora(cfg)
    folder = out / "model"
    folder.mkdir(parents=True, exist_ok=True)
    cells = layout(user_ids, seed, S, R)
    users = [[sorted({user_ids[i] for i in cells[s][r]}) for r in range(R)] for s in range(S)]
    prev = json.loads((previous / "sisa.json").read_text()) if previous else None
    record = {"shards": S, "slices": R, "seed": seed, "lora": lora, "users": users, "lora_config": None,
              "texts": [[len(c) for c in row] for row in cells], "restart": [], "steps": [], "wall_s": [], "flops": 0.0,
              "base": os.path.relpath(base_dir.resolve(), folder.resolve()), "status": "ok", "message": ""}
    tok = None
    for s in range(S):
        start = _restart_slice(prev, users, s, R) if prev else 0
        record["restart"].append(start)
        if acc.is_main_process:  # untouched stages: the previous checkpoints, as they were
            for r in range(start):
                shutil.copyfile(previous / f"shard{s}" / f"slice{r}.safetensors", _ckpt(folder, s, r, mkdir=True))
        acc.wait_for_everyone()  # every process resumes from the copied checkpoint
        t0, steps = time.perf_counter(), 0
        if start < R:
            model, tok = _constituent(base_dir, cfg, seed, s)
            if lora:
                record["lora_config"] = {"r": cfg.sisa.lora_rank, "alpha": cfg.sisa.lora_alpha,
                                         "targets": sorted(model.peft_config["default"].target_modules)}
            if start > 0:
                load_trainable(model, load_file(_ckpt(folder, s, start - 1)), lora)
            for r in range(start, R):
                idx = [i for c in cells[s][: r + 1] for i in c]
                if idx:
                    data = encode(tok, [texts[i] for i in idx], cfg.model.max_length)
                    with FlopCounter(model) as counted:
                        result = train(model, {"train": data}, "train", _nll_loss, stage_cfg(cfg),
                                       stage_seed(seed, s, r), acc, desc=f"SISA shard {s} slice {r}")
                    record["flops"] += counted.reduced(acc)
                    steps += result.steps
                    if result.status != "ok":
                        record.update(status=result.status, message=f"shard {s} slice {r}: {result.message}")
                        break
                if acc.is_main_process:
                    save_file(trainable_state(model, lora), str(_ckpt(folder, s, r, mkdir=True)))
            del model
        record["steps"].append(steps)
        record["wall_s"].append(time.perf_counter() - t0)
        if record["status"] != "ok":
            break
    if acc.is_main_process:
        if tok is None:
            from unlearn.models import load_model

            tok = load_model(base_dir)[1]
        tok.save_pretrained(folder)
        (folder / "sisa.json").write_text(json.dumps(record, indent=1))
    acc.wait_for_everyone()
    return record


def _restart_slice(prev: dict, users: list[list[list[str]]], s: int, R: int) -> int:
    """The first slice of shard `s` whose users differ from the previous training (R: none)."""
    for r in range(R):
        if set(prev["users"][s][r]) != set(users[s][r]):
            return r
    return R


def _ckpt(folder: Path, shard: int, slice_: int, mkdir: bool = False) -> Path:
    path = folder / f"shard{shard}" / f"slice{slice_}.safetensors"
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def verify(deleted: Path, scratch: Path) -> dict:
    """Compare every checkpoint of a SISA after deletion with one trained from scratch on the
    remaining users: {"identical": bool, "max_abs_diff": float, "checkpoints": n, "differing": [...]}."""
    a, b = json.loads((deleted / "sisa.json").read_text()), json.loads((scratch / "sisa.json").read_text())
    if (a["shards"], a["slices"], a["users"]) != (b["shards"], b["slices"], b["users"]):
        return {"identical": False, "max_abs_diff": float("inf"), "checkpoints": 0,
                "differing": ["the shard/slice user lists differ"]}
    worst, differing, n = 0.0, [], 0
    for s in range(a["shards"]):
        for r in range(a["slices"]):
            pa, pb = _ckpt(deleted, s, r), _ckpt(scratch, s, r)
            if not pa.exists() and not pb.exists():
                continue
            n += 1
            ta, tb = load_file(pa), load_file(pb)
            if ta.keys() != tb.keys():
                differing.append(f"shard{s}/slice{r}: different tensors")
                worst = float("inf")
                continue
            diff = max((float((ta[k] - tb[k]).abs().max()) if ta[k].numel() else 0.0) for k in ta)
            if not all(torch.equal(ta[k], tb[k]) for k in ta):
                differing.append(f"shard{s}/slice{r}")
            worst = max(worst, diff)
    return {"identical": not differing, "max_abs_diff": worst, "checkpoints": n, "differing": differing}
