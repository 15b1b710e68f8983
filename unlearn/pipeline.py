"""The experiment: corpus -> base -> original -> retrain -> unlearn[m] -> evaluate[x] -> report.

Each stage is a plain function of its inputs, run through `Stages` (hash-keyed, atomic,
resumable). Every process of a distributed run walks the same stages; training stages use all
of them, everything else does its work on the main process while the others wait.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from unlearn.config import Config, MethodSpec, compute_key, to_dict
from unlearn.corpus import build_corpus, load_corpus, save_corpus, source_path
from unlearn.corpus.generate import GENERATOR_VERSION
from unlearn.data import encode
from unlearn.exact.stage import sisa_stages, with_retrain_cost
from unlearn.flops import FlopCounter
from unlearn.methods import METHODS
from unlearn.methods.stage import CURVE_EXAMPLES, unlearn_stage
from unlearn.measure import calibrate_relearning, compare, evaluate_stage, fold_reference
from unlearn.outdir import held_run_folder
from unlearn.tracking import finish_tracking, start_tracking
from unlearn.memory import PeakMemory, freeze_long_lived, reuse_freed_memory
from unlearn.parallel import measure_models
from unlearn.pretrain import _nll_loss, pretrain
from unlearn.metrics.evaluate import EvalPlan, make_plan
from unlearn.models import MODELS, build_base, load_model
from unlearn.results import assemble_results, run_record
from unlearn.sequential import round_texts
from unlearn.stages import Stages, content_digest, write_json_atomic
from unlearn.train import deterministic_mode, run_accelerator, save_outcome, train
from unlearn.tuning import validation_indices
from unlearn.tuning_stage import tune

class PipelineError(RuntimeError):
    """The experiment cannot go on (e.g. fine-tuning itself diverged)."""


def run_experiment(cfg: Config, run_dir: Path, config_path: str = "", debug: bool = False,
                   overrides: list[str] = (), stage_dir: Path | None = None) -> dict:
    """Run every stage for every seed; write results.json and report.md; return the results.
    `config_path` and `overrides` are recorded so the report can state the command that reruns it.
    `stage_dir`: where the stages live if not in the run folder (a cache shared by a sweep's runs)."""
    start = time.perf_counter()
    deterministic_mode()
    reuse_freed_memory()
    freeze_long_lived()
    acc = run_accelerator(cfg, Path(run_dir) / "tracking")
    run_dir = Path(run_dir)
    with held_run_folder(run_dir, acc):  # ours only, one run at a time (unlearn/outdir.py)
        return _run(cfg, run_dir, acc, start, config_path, debug, overrides, Path(stage_dir or run_dir))


def _run(cfg: Config, run_dir: Path, acc, start: float, config_path: str, debug: bool, overrides,
         stage_dir: Path) -> dict:
    """run_experiment's work, inside the held run folder."""
    from unlearn.report import write_report

    stages = Stages(stage_dir, acc)
    start_tracking(acc, cfg)  # creates <run_dir>/tracking only now that the folder is held
    per_seed, seed_wall = {}, {}
    with PeakMemory() as memory:  # this process and its evaluation workers together
        for seed in cfg.seeds:
            begin = time.perf_counter()
            per_seed[seed] = run_seed(cfg, seed, stages, acc, debug)
            seed_wall[str(seed)] = time.perf_counter() - begin
        frontier = None
        if cfg.frontier.enabled:
            from unlearn.frontier import phase_stages, run_frontier

            begin, marks = time.perf_counter(), (len(stages.hits), len(stages.built))
            frontier = run_frontier(cfg, per_seed, stages, acc, debug)
            frontier_wall = time.perf_counter() - begin
    results = assemble_results(cfg, per_seed, config_path, time.perf_counter() - start, acc)
    if frontier is not None:
        results["frontier"] = frontier
    results["meta"].update(run_record(stages, overrides, run_dir, seed_wall),
                           peak_rss_total_mb=memory.peak_mb)
    if frontier is not None:
        results["meta"].update(frontier_wall_s=frontier_wall, frontier_stages=phase_stages(stages, marks))
    if acc.is_main_process:
        write_json_atomic(run_dir / "results.json", results)
        write_report(results, run_dir)
    finish_tracking(acc, results)  # final metrics per model, then the tracker is closed
    acc.wait_for_everyone()
    return results


@dataclass
class SeedRun:
    """What every stage of one seed shares."""

    cfg: Config
    seed: int
    stages: Stages
    acc: object
    corpus_dir: Path
    corpus: object
    exclude: dict[str, list[int]]  # validation rows left out of evaluation (tuning only)
    plan: EvalPlan | None = None  # what every model is measured on
    val_refs: dict = field(default_factory=dict)  # retrain/original validation NLLs, scored once


def prepare_corpus(cfg: Config, seed: int, stages: Stages, acc) -> SeedRun:
    """The corpus stage of one seed and what every later stage shares (corpus, evaluation plan)."""
    inputs = input_digests(cfg)
    data_key = {"data": to_dict(cfg.data), "seed": seed, "generator": GENERATOR_VERSION,
                **({"inputs": inputs["data"]} if inputs["data"] else {})}
    corpus_dir, _ = stages.run("corpus", data_key, lambda out: _corpus_stage(cfg, seed, out, acc))
    corpus = load_corpus(corpus_dir / "corpus")
    exclude = (validation_indices(len(corpus.texts["forget"]), len(corpus.texts["retain"]),
                                  cfg.tuning.val_fraction, seed) if cfg.tune else {})
    run = SeedRun(cfg, seed, stages, acc, corpus_dir, corpus, exclude)
    run.plan = make_plan(corpus, corpus.texts, exclude, cfg.eval, seed)
    return run


def prepare(cfg: Config, seed: int, stages: Stages, acc) -> tuple[SeedRun, Path, dict]:
    """The corpus and base stages of one seed: (the seed's shared state, base folder, base info)."""
    run = prepare_corpus(cfg, seed, stages, acc)
    inputs = input_digests(cfg)
    bseed = base_seed(cfg, seed)
    base_key = {"model": to_dict(cfg.model), "seed": bseed,
                **({"tokenizer_data": {"data": to_dict(cfg.data), "generator": GENERATOR_VERSION,
                                       **({"inputs": inputs["data"]} if inputs["data"] else {})}}
                   if cfg.model.name == "tiny" else {}),
                **({"inputs": inputs["model"]} if inputs["model"] else {})}
    base_dir, base = stages.run("base", base_key, lambda out: _base_stage(cfg, bseed, out, acc))
    if cfg.model.name == "tiny" and cfg.model.pretrain_users > 0:
        base_dir, base = pretrain(cfg, bseed, stages, acc, base_dir)
        if base["status"] != "ok":
            raise PipelineError(f"pretrain: {base['status']}: {base.get('message')}; lower finetune.lr or "
                                "set model.pretrain_users: 0")
    return run, base_dir, base


def input_digests(cfg: Config) -> dict[str, dict[str, str]]:
    """Content digests of the input files the stages read, by reader: "data" (the corpus stage, and
    the tiny model's tokenizer: an own corpus and its forget list) and "model" (the base stage: a
    local model folder). Stage keys hold them, so an edited file rebuilds exactly its readers."""
    data = {key: content_digest(Path(path)) if Path(path).exists() else "missing"
            for key, path in (("data.source", source_path(cfg.data.source)), ("data.forget_users", cfg.data.forget_users))
            if path and not (key == "data.source" and path == "synthetic")}
    local = Path(cfg.model.name).expanduser()
    model = {"model.name": content_digest(local)} if cfg.model.name not in MODELS and local.is_dir() else {}
    return {"data": data, "model": model}


def base_seed(cfg: Config, seed: int) -> int:
    """The seed the base model is built with: the tiny model's `model.base_seed` unless null (one
    base for every run seed, as a released checkpoint is), else the run's seed."""
    return cfg.model.base_seed if cfg.model.name == "tiny" and cfg.model.base_seed is not None else seed


def run_seed(cfg: Config, seed: int, stages: Stages, acc, debug: bool) -> dict:
    """All stages of one seed; returns {model name: {kind, status, metrics, ci, cost, ...}}."""
    run, base_dir, base = prepare(cfg, seed, stages, acc)
    models = {"base": ("base", base_dir, base)}
    for name, split in FITS:
        models[name] = (name, *fit(run, base_dir, name, split))
    for name, kind, replicate in reference_replicates(cfg):
        models[name] = (kind, *fit(run, base_dir, "retrain", "retain", replicate))
    if cfg.sisa.enabled:
        folder, info = sisa_stages(run, base_dir)
        models["sisa"] = ("exact", folder, with_retrain_cost(info, models["retrain"][2]))
    tuning, rounds = {}, {}
    original = models["original"][1:]
    for spec in cfg.methods:
        if cfg.tune and spec.grid:
            spec, tuning[spec.name] = tune(run, spec, models, debug)
        if cfg.data.objection_rounds > 1:
            folder, info, rounds[spec.name] = _sequential(run, spec, original, debug)
        else:
            folder, info = _unlearn(run, spec, original, debug)
        models[spec.name] = (METHODS[spec.name].kind, folder, info)
    out = measure_seed(run, models)
    for name, record in tuning.items():
        out[name]["tuning"] = record
    for name, history in rounds.items():
        out[name]["rounds"] = history
    return out


def measure_seed(run: SeedRun, models: dict) -> dict:
    """Every model of a seed measured and compared: relearning calibrated on the original (it sets
    run.cfg's rate), each model evaluated and attacked (parallel.py), compared with base and the
    retrain reference, the reference folded into `retrain`. `models`: {name: (kind, folder, info)}."""
    calibration = None
    if "relearn" in run.cfg.attacks.names and run.cfg.attacks.relearn_lr_candidates:
        calibration = calibrate_relearning(run, *models["original"][1:])
    out = measure_models(run, models)
    if calibration is not None:
        out["original"]["relearn_calibration"] = calibration
    compare(run, out)
    fold_reference(out)
    return out


FITS = (("original", "train"), ("retrain", "retain"))  # fine-tuned models: name, split


def reference_replicates(cfg: Config) -> list[tuple[str, str, int]]:
    """(model name, kind, replicate) of the retrain models beyond `retrain` itself (replicate 0):
    `retrain@k` for the other reference replicates, and `retrain_null`, the null control (one more
    replicate held out of the reference and judged like a method)."""
    k = cfg.retrain.replicates
    out = [(f"retrain@{r}", "retrain", r) for r in range(1, k)]
    return out + ([("retrain_null", "control", k)] if cfg.retrain.null_control else [])


def replicate_seed(seed: int, replicate: int) -> int:
    """The training seed of a retrain replicate (its data order; dropout where the model has it).
    Replicate 0 is the run's own retrain; the base model (pretrained weights, or the tiny model's
    initialisation) is the same for all, as it is for the original."""
    return seed + 1_000_003 * replicate


def fit(run: SeedRun, base_dir: Path, name: str, split: str, replicate: int = 0) -> tuple[Path, dict]:
    """The fine-tuning stage of `name` (original or retrain) on `split`; its failure ends the run.
    `replicate` > 0: another draw of the same recipe, with training seed `replicate_seed`."""
    cfg, seed = run.cfg, replicate_seed(run.seed, replicate)
    key = {"base": base_dir.name, "corpus": run.corpus_dir.name, "finetune": to_dict(cfg.finetune),
           "max_length": cfg.model.max_length, "seed": run.seed, "split": split,
           **({"replicate": replicate} if replicate else {}), **compute_key(cfg)}
    folder, info = run.stages.run(name, key, lambda out: _finetune_stage(cfg, seed, base_dir, run.corpus, split,
                                                                        out, run.acc))
    if info["status"] != "ok":
        raise PipelineError(f"{name}: fine-tuning {info['status']}: {info.get('message')}; "
                            "lower finetune.lr or check the data")
    return folder, info


def _unlearn(run: SeedRun, spec: MethodSpec, start: tuple, debug: bool, round_: int = 0) -> tuple[Path | None, dict]:
    """The unlearn stage of one method variant from `start` = (stage folder, stage info);
    `round_` > 0 applies that sequential request only. A method that raises is recorded as failed."""
    cfg, (start_dir, start_info) = run.cfg, start
    method = {k: v for k, v in to_dict(spec).items() if k != "grid"}  # the sweep is not a setting
    key = {"original": start_dir.name, "corpus": run.corpus_dir.name, "method": method,
           "max_length": cfg.model.max_length, "seed": run.seed, **({"round": round_} if round_ else {}),
           "curve_examples": CURVE_EXAMPLES, **compute_key(cfg)}
    texts = round_texts(run.corpus, round_) if round_ else run.corpus.texts
    start_model = (start_dir / start_info["model_path"]).resolve()
    try:
        return run.stages.run(f"unlearn-{spec.name}" + (f"-r{round_}" if round_ else ""), key,
                              lambda out: unlearn_stage(cfg, spec, run.seed, start_model, texts, out, run.acc))
    except Exception as err:  # one broken method never sinks the experiment
        if debug:
            raise
        info = {"status": "failed", "message": f"{type(err).__name__}: {err}", "wall_s": 0.0}
        run.stages.say(f"[failed] unlearn-{spec.name}: {info['message']}")
        return None, info


def _sequential(run: SeedRun, spec: MethodSpec, start: tuple, debug: bool) -> tuple[Path | None, dict, list]:
    """Apply the method once per objection round, each to the previous round's model; evaluate
    every intermediate model on the splits as they stand then. Cost = all rounds together."""
    rounds, history, wall, instrument, flops = run.cfg.data.objection_rounds, [], 0.0, 0.0, 0.0
    for r in range(1, rounds + 1):
        folder, info = _unlearn(run, spec, start, debug, round_=r)
        wall += float(info.get("wall_s", 0.0))
        instrument += float(info.get("instrument_s", 0.0))
        flops = flops + info["flops"] if flops is not None and "flops" in info else None
        if info["status"] != "ok":
            break
        if r < rounds:
            history.append({"round": r, **evaluate_stage(run, METHODS[spec.name].kind, folder, info,
                                                    texts=round_texts(run.corpus, r, cumulative=True),
                                                    tag={"round": r})})
        start = (folder, info)
    return folder, {**info, "wall_s": wall, "instrument_s": instrument,
                    **({"flops": flops} if flops is not None else {})}, history


def _corpus_stage(cfg, seed, out, acc) -> dict:
    if acc.is_main_process:
        save_corpus(build_corpus(cfg.data, seed), out / "corpus")
    return {"status": "ok"}


def _base_stage(cfg, seed, out, acc) -> dict:
    if acc.is_main_process:
        build_base(cfg, seed, out / "model")
    return {"status": "ok", "model_path": "model"}


def _finetune_stage(cfg, seed, base_dir, corpus, split, out, acc) -> dict:
    """Fine-tune the base model on `split` (train for original, retain for retrain)."""
    model, tok = load_model(base_dir / "model")
    data = encode(tok, corpus.texts[split]["text"], cfg.model.max_length)
    with FlopCounter(model) as flops:
        result = train(model, {"train": data}, "train", _nll_loss, cfg.finetune, seed, acc,
                       desc=f"fine-tune on {split}")
    return {**save_outcome(result, model, tok, out, acc), "flops": flops.reduced(acc)}
