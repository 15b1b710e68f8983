"""`unlearn sweep`: the grid, its task graph, and runs on the embedded Ray instance sharing one
stage cache (the kill-and-resume case is in the faults tier, below)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unlearn.config import ConfigError
from unlearn.sweep import load_sweep, plan, point_name

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"
# the smoke config without SISA and the null control, one method, one attack: plumbing, fast
SMALL = ["unlearn.methods=[ga]", "sisa.enabled=false", "retrain.replicates=2", "retrain.null_control=false",
         "attacks.names=[quantize]", "finetune.epochs=2", "model.pretrain_users=0", "eval.qa_users=2",
         "eval.generate_examples=4"]


def sweep_file(tmp_path: Path, grid: dict, name: str = "grid", **more) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps({"name": name, "config": str(SMOKE), "overrides": SMALL, "grid": grid, **more}))
    return path


def test_the_grid_expands_to_named_runs_with_their_overrides(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, {"seeds": [0, 1], "data.forget_fraction": [0.1, 0.2]}))
    assert [p.name for p in sweep.points] == ["seeds0-forget_fraction0.1", "seeds0-forget_fraction0.2",
                                              "seeds1-forget_fraction0.1", "seeds1-forget_fraction0.2"]
    last = sweep.points[-1]
    assert last.overrides == [*SMALL, "seeds=[1]", "data.forget_fraction=0.2"]
    assert last.cfg.seeds == (1,) and last.cfg.data.forget_fraction == 0.2 and last.cfg.sisa.enabled is False
    assert point_name({"unlearn.methods": ["ga", "npo"]}) == "methodsga_npo"


def test_the_task_graph_holds_each_shared_stage_once(tmp_path):
    graph = plan(load_sweep(sweep_file(tmp_path, {"seeds": [0, 1], "data.forget_fraction": [0.1, 0.2]})))
    assert len(graph["prepare"]) == 4  # a corpus per (seed, fraction)
    assert len(graph["fit"]) == 4 * 3  # original and two retrain replicates each
    methods = plan(load_sweep(sweep_file(tmp_path, {"unlearn.methods": [["ga"], ["npo"], ["ga", "npo"]]})))
    assert len(methods["prepare"]) == 1 and len(methods["fit"]) == 3  # three runs over one set of models
    assert all(needs == list(methods["fit"]) for needs in methods["run"].values())


@pytest.mark.parametrize("content, message", [
    ({"grid": {"seeds": [0]}}, "'config' is missing"),
    ({"config": "nowhere.yaml", "grid": {"seeds": [0]}}, "'config' names nowhere.yaml, which is no file"),
    ({"config": str(SMOKE), "grid": {}}, "'grid' must map at least one config key"),
    ({"config": str(SMOKE), "grid": {"seeds": 3}}, "grid key 'seeds' must list at least one value"),
    ({"config": str(SMOKE), "grid": {"seeds": [0, 0]}}, "grid key 'seeds' lists a value twice"),
    ({"config": str(SMOKE), "grid": {"seeds": [0]}, "runs": 3}, "unknown key 'runs'"),
    ({"config": str(SMOKE), "grid": {"data.forget_fraction": [0.1, 1.5]}},
     r"the run data.forget_fraction=1.5: command line: 'data.forget_fraction' must"),
    ({"config": str(SMOKE), "grid": {"model.layerz": [2]}}, r"the run model.layerz=2: .*unknown key 'model.layerz'"),
    ({"config": str(SMOKE), "name": "../up", "grid": {"seeds": [0]}}, "'name' must be a plain folder name"),
])
def test_a_bad_sweep_file_is_named_with_what_to_do(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=message) as err:
        load_sweep(path)
    assert str(err.value).startswith(str(path))


def test_every_shipped_sweep_file_loads():
    files = sorted((ROOT / "configs" / "sweeps").glob("*.yaml"))
    assert files and all(load_sweep(f).points for f in files)


def test_without_ray_the_sweep_says_how_to_install_it(tmp_path, monkeypatch):
    from unlearn.sweep import run_sweep

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(ConfigError, match=r"pip install 'unlearn-bench\[ray\]'"):
        run_sweep(load_sweep(sweep_file(tmp_path, {"seeds": [0]})), tmp_path / "out")
    assert not (tmp_path / "out" / "sweep.json").exists()


def sweep(path: Path, out: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "unlearn", "sweep", str(path), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def stage_kinds(out: Path) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[0] for p in (out / "stages").iterdir() if not p.name.startswith("."))


def test_a_sweep_runs_on_embedded_ray_into_one_shared_cache_and_tabulates_the_runs(tmp_path):
    path = sweep_file(tmp_path, {"seeds": [0, 1]})
    proc = sweep(path, tmp_path / "out")
    log = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, log[-3000:]
    record = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [p["status"] for p in record["points"]] == ["ok", "ok"]
    stages = record["stages"]
    assert stages["built_twice"] == [] and stages["built"] == stages["folders"]
    # the shared levels are built by their own tasks, the runs only build what is theirs
    assert stages["kinds_built_by"] == {"prepare": ["base", "corpus"], "fit": ["original", "retrain"],
                                        "run": ["attack", "eval", "unlearn-ga"]}
    kinds = stage_kinds(tmp_path / "out")
    assert kinds.count("base") == 1  # model.base_seed: one base for both seeds
    assert kinds.count("corpus") == 2 and kinds.count("original") == 2 and kinds.count("retrain") == 4
    table = (tmp_path / "out" / "tables" / "sweep.csv").read_text().splitlines()
    assert table[0].startswith("seeds,model,verdict,forget.mia_loss_auc")
    assert [row.split(",")[:2] for row in table[1:]] == [["0", "retrain"], ["0", "ga"], ["1", "retrain"], ["1", "ga"]]
    for point in record["points"]:
        results = json.loads((tmp_path / "out" / point["run_dir"] / "results.json").read_text())
        assert results["meta"]["stages"]["dir"] == str((tmp_path / "out" / "stages").resolve())
    assert "none built twice" in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.faults
@pytest.mark.slow
def test_a_killed_sweep_resumes_from_the_cache(tmp_path):
    """2 seeds x 2 forget fractions; SIGINT once the first fine-tuning is finished, then rerun."""
    path = sweep_file(tmp_path, {"seeds": [0, 1], "data.forget_fraction": [0.1, 0.2]})
    out = tmp_path / "out"
    proc = sweep(path, out, start_new_session=True)
    deadline = time.time() + 300
    while not any((p / "stage.json").is_file() for p in out.glob("stages/original-*")):
        assert proc.poll() is None and time.time() < deadline, "the sweep ended before its first fine-tuning"
        time.sleep(0.05)
    finished = {p.name for p in (out / "stages").iterdir() if (p / "stage.json").is_file()}
    proc.send_signal(signal.SIGINT)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, log[-3000:]
    assert "rerun the same command to resume" in log and not (out / "sweep.json").exists()
    time.sleep(1)
    again = sweep(path, out)
    log = again.communicate(timeout=900)[0]
    assert again.returncode == 0, log[-3000:]
    record = json.loads((out / "sweep.json").read_text())
    assert len(record["points"]) == 4 and all(p["status"] == "ok" for p in record["points"])
    rebuilt = [line for line in log.splitlines() if "[build]" in line and any(f in line for f in finished)]
    assert rebuilt == []  # what was finished before the kill is reused, not built again
    assert sum(f"[cached] {name}" in log for name in finished) == len(finished)
    assert record["stages"]["built_twice"] == []
    assert not list((out / "stages").glob(".*.tmp*"))  # the killed workers' temp folders are gone
    kinds = stage_kinds(out)
    assert kinds.count("base") == 2 and kinds.count("corpus") == 4  # base per fraction (its tokenizer key)
    assert len((out / "tables" / "sweep.csv").read_text().splitlines()) == 1 + 4 * 2
    assert os.path.isfile(out / "figures" / "sweep.png")


def test_a_sweep_never_writes_into_a_run_folder(tmp_path):
    from unlearn.outdir import claim
    from unlearn.sweep import run_sweep

    claim(tmp_path / "run", "run")
    (tmp_path / "run" / "results.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"--out names an unlearn run folder, and it is not empty"):
        run_sweep(load_sweep(sweep_file(tmp_path, {"seeds": [0]})), tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".unlearn", "results.json"]
