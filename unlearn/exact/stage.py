"""The SISA stages of one seed (`run` is pipeline.SeedRun): train on every member, delete the
objecting users round by round; and the exactness check (`unlearn sisa-check`): a SISA trained
from scratch on the remaining users must equal the one after deletion, checkpoint by checkpoint.
"""
from __future__ import annotations

from pathlib import Path

from unlearn.config import Config, compute_key, to_dict
from unlearn.exact.sisa import build_sisa, verify


def _key(run, base_dir: Path) -> dict:
    cfg = run.cfg
    return {"base": base_dir.name, "corpus": run.corpus_dir.name, "finetune": to_dict(cfg.finetune),
            "sisa": to_dict(cfg.sisa), "max_length": cfg.model.max_length, "seed": run.seed, **compute_key(cfg)}


def _objected(corpus) -> dict[str, int]:
    """Objecting user -> the objection round in which they object (1 if the table has no rounds)."""
    users = corpus.tables["users"]
    round_of = dict(zip(users["user_id"], users["objection_round"])) if "objection_round" in users.column_names else {}
    return {u: round_of.get(u, 1) or 1 for u in corpus.texts["forget"]["user_id"]}


def _remaining(corpus, round_: int) -> list[int]:
    """Rows of the train split whose author has not objected by round `round_` (corpus order)."""
    objected = _objected(corpus)
    return [i for i, u in enumerate(corpus.texts["train"]["user_id"]) if objected.get(u, round_ + 1) > round_]


def _builder(run, base_dir: Path, rows: list[int], previous: Path | None = None):
    train_split = run.corpus.texts["train"]

    def build(out):
        record = build_sisa(run.cfg, run.seed, base_dir / "model", [train_split["text"][i] for i in rows],
                            [train_split["user_id"][i] for i in rows], out, run.acc, previous)
        return {"status": record["status"], "message": record["message"], "steps": sum(record["steps"]),
                "flops": record["flops"], "restart": record["restart"], "model_path": "model"}
    return build


def sisa_stages(run, base_dir: Path) -> tuple[Path | None, dict]:
    """SISA trained on every member (stage sisa-full), then the objecting users deleted from it,
    one stage per objection round (sisa.py). Returns the last stage's (folder, info); its cost is
    the deletions' wall time, with the speed-up over training SISA in full (`with_retrain_cost`
    adds the one over retrain)."""
    cfg, key = run.cfg, _key(run, base_dir)
    everyone = list(range(len(run.corpus.texts["train"])))
    folder, full = run.stages.run("sisa-full", key, _builder(run, base_dir, everyone))
    full_wall, wall, steps, flops, restarts = full["wall_s"], 0.0, 0, 0.0, []
    for r in range(1, cfg.data.objection_rounds + 1):
        if full["status"] != "ok":
            break
        folder, full = run.stages.run("sisa", {**key, "full": folder.name, "round": r},
                                      _builder(run, base_dir, _remaining(run.corpus, r), folder / "model"))
        wall, steps = wall + full["wall_s"], steps + full.get("steps", 0)
        flops = flops + full["flops"] if flops is not None and "flops" in full else None  # None: built before flops were counted
        restarts.append(full.get("restart"))
    info = {**{k: v for k, v in full.items() if k != "flops"}, "wall_s": wall, "steps": steps,
            **({"flops": flops} if flops is not None and full["status"] == "ok" else {})}
    if full["status"] == "ok":
        info["cost"] = {"sisa_full_wall_s": full_wall, "speedup_vs_full_sisa": full_wall / max(wall, 1e-9),
                        "shards": cfg.sisa.shards, "slices": cfg.sisa.slices, "restart_slices": restarts}
    return folder, info


def with_retrain_cost(info: dict, retrain_info: dict) -> dict:
    """SISA's stage info with its deletion speed-up over retraining the single model."""
    if "cost" not in info:
        return info
    retrain = float(retrain_info["wall_s"])
    return {**info, "cost": {**info["cost"], "retrain_wall_s": retrain,
                             "speedup_vs_retrain": retrain / max(float(info["wall_s"]), 1e-9)}}


def check_sisa(cfg: Config, run_dir: Path) -> list[dict]:
    """Per seed: the SISA after the last deletion vs one trained from scratch on the remaining
    users with the same seeds (stage sisa-scratch). Every other stage is reused from the run."""
    from unlearn.outdir import held_run_folder
    from unlearn.stages import Stages
    from unlearn.memory import freeze_long_lived, reuse_freed_memory
    from unlearn.train import deterministic_mode, run_accelerator

    deterministic_mode()
    reuse_freed_memory()
    freeze_long_lived()
    acc = run_accelerator(cfg, tracking=False)
    with held_run_folder(Path(run_dir), acc):
        return _check(cfg, Stages(Path(run_dir), acc), acc)


def _check(cfg: Config, stages, acc) -> list[dict]:
    """check_sisa's work, inside the held run folder."""
    from unlearn.pipeline import prepare  # late import: the pipeline imports this module

    out = []
    for seed in cfg.seeds:
        run, base_dir, _ = prepare(cfg, seed, stages, acc)
        deleted, info = sisa_stages(run, base_dir)
        if info["status"] != "ok":
            out.append({"seed": seed, "identical": False, "message": f"SISA stage {info['status']}: {info.get('message')}"})
            continue
        rows = _remaining(run.corpus, cfg.data.objection_rounds)
        scratch, _ = stages.run("sisa-scratch", {**_key(run, base_dir), "after_round": cfg.data.objection_rounds}, _builder(run, base_dir, rows))
        out.append({"seed": seed, "deleted": deleted.name, "scratch": scratch.name,
                    **verify(deleted / "model", scratch / "model")})
    return out
