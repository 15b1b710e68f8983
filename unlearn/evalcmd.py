"""`unlearn eval`: judge models trained elsewhere — an original, retrain models and unlearned
checkpoints given as folders — with the same measurements, attacks, verdicts and report as
`unlearn run`, on the config's corpus (our synthetic network, an own corpus, or a TOFU- or
MUSE-format folder: `data.source=tofu:FOLDER`).

    unlearn eval CONFIG --original DIR --retrain DIR --retrain DIR [--control DIR] [--base DIR]
                 [--model NAME=DIR ...] [key=value ...] [--out DIR]

Each checkpoint (a transformers model folder: config.json, safetensors weights, tokenizer) is
imported once into a `checkpoint-<hash>` stage of the run folder, keyed by its content (hard links
where the file system allows, else a copy), so that every later stage is keyed and cached exactly
as in a run. The retrain models form the reference distribution (two or more for a verdict);
`--control` is one more retrain model judged like a method (the null control). Costs are not
known for given checkpoints: they are recorded as 0 s and the report says the checkpoints were
given. One seed (the config's first): the corpus and the evaluation plan are drawn with it.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from unlearn.config import Config, ConfigError
from unlearn.stages import content_digest

KINDS = {"base": "base", "original": "original", "retrain": "retrain", "control": "control"}


def checkpoint_folder(path: str, flag: str) -> Path:
    """`path` as a model folder (a hub id "org/name" that is no local path is downloaded, safetensors
    only, where the hub is reachable), or a ConfigError naming the flag and what is missing."""
    folder = Path(path).expanduser()
    if not folder.exists() and path.count("/") == 1 and not path.startswith((".", "/", "~")):
        folder = _from_hub(path, flag)
    if not folder.is_dir():
        raise ConfigError(f"{flag} {path}: no such folder; give a transformers model folder (config.json, "
                          "*.safetensors, tokenizer files)")
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{flag} {path}: no config.json here; give the folder save_pretrained wrote")
    if not list(folder.glob("*.safetensors")):
        pickled = [p.name for p in folder.glob("*.bin")]
        hint = (f" (found {', '.join(pickled)}: only safetensors weights are loaded; convert with "
                "save_pretrained(..., safe_serialization=True))") if pickled else ""
        raise ConfigError(f"{flag} {path}: no *.safetensors weights{hint}")
    if not any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        raise ConfigError(f"{flag} {path}: no tokenizer files; save the tokenizer into the same folder")
    return folder


def _from_hub(repo_id: str, flag: str) -> Path:
    """A hub model's config, safetensors weights and tokenizer files in the local hub cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "tokenizer*", "*.model",
                                                               "*.jinja", "*.txt"]))
    except Exception as err:  # noqa: BLE001 — offline, unknown repo, no access: one line for the user
        raise ConfigError(f"{flag} {repo_id}: no such local folder, and the hub model could not be fetched "
                          f"({type(err).__name__}); give a local folder, or connect (HF_HUB_OFFLINE unset)") from None


def parse_models(original: str, retrain: list[str], models: list[str], control: str | None,
                 base: str | None) -> dict[str, tuple[str, Path]]:
    """{model name: (kind, folder)} from the command line, every folder checked."""
    if not retrain:
        raise ConfigError("--retrain: give at least one retrain model (two or more for a verdict: the "
                          "reference needs a spread)")
    out = {}
    if base:
        out["base"] = ("base", checkpoint_folder(base, "--base"))
    out["original"] = ("original", checkpoint_folder(original, "--original"))
    for i, path in enumerate(retrain):
        out["retrain" if i == 0 else f"retrain@{i}"] = ("retrain", checkpoint_folder(path, "--retrain"))
    if control:
        out["retrain_null"] = ("control", checkpoint_folder(control, "--control"))
    for item in models:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--model {item}: must look like NAME=DIR")
        if name in out or name in ("base", "original", "retrain", "retrain_null") or "@" in name:
            raise ConfigError(f"--model {item}: the name '{name}' is taken; choose another")
        out[name] = ("approximate", checkpoint_folder(path, f"--model {name}="))
    return out


def import_checkpoint(stages, folder: Path) -> tuple[Path, dict]:
    """The checkpoint's stage: its files hard-linked (or copied) into `<stage>/model`."""
    def build(out: Path) -> dict:
        if stages.acc.is_main_process:
            target = out / "model"
            target.mkdir()
            for item in sorted(folder.iterdir()):
                if item.is_file():
                    try:
                        os.link(item, target / item.name)
                    except OSError:
                        shutil.copy2(item, target / item.name)
        return {"status": "ok", "model_path": "model", "source": str(folder)}

    stage_dir, info = stages.run("checkpoint", {"digest": content_digest(folder)}, build)
    return stage_dir, {**info, "wall_s": 0.0}  # the import is not the model's cost


def run_eval(cfg: Config, run_dir: Path, models: dict[str, tuple[str, Path]], config_path: str = "",
             overrides: list[str] = (), debug: bool = False) -> dict:
    """Measure, attack and judge the given checkpoints; write results.json and the report."""
    from unlearn.memory import PeakMemory, freeze_long_lived
    from unlearn.outdir import held_run_folder
    from unlearn.pipeline import measure_seed, prepare_corpus
    from unlearn.report import write_report
    from unlearn.results import assemble_results, run_record
    from unlearn.stages import Stages, write_json_atomic
    from unlearn.train import deterministic_mode, run_accelerator

    start = time.perf_counter()
    deterministic_mode()
    freeze_long_lived()
    acc = run_accelerator(cfg, tracking=False)
    seed = cfg.seeds[0]
    with held_run_folder(Path(run_dir), acc), PeakMemory() as memory:
        stages = Stages(Path(run_dir), acc)
        run = prepare_corpus(cfg, seed, stages, acc)
        entries = {}
        for name, (kind, folder) in models.items():
            stage_dir, info = import_checkpoint(stages, folder)
            entries[name] = (kind, stage_dir, info)
        out = measure_seed(run, entries)
        results = assemble_results(run.cfg, {seed: out}, config_path, time.perf_counter() - start, acc)
        results["meta"].update(run_record(stages, overrides, run_dir, {str(seed): time.perf_counter() - start}),
                               peak_rss_total_mb=memory.peak_mb,
                               checkpoints={name: str(folder) for name, (_, folder) in models.items()})
        if acc.is_main_process:
            write_json_atomic(Path(run_dir) / "results.json", results)
            write_report(results, Path(run_dir))
        acc.wait_for_everyone()
    return results
