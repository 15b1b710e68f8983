"""Faults on whole runs (the `faults` tier): interrupts, kills at stage boundaries and mid-stage,
damaged stage files, two runs into one folder. Every case ends with the same metrics as an
uninterrupted run. Whole runs take minutes, so the tier is left out of the default test run
(marked slow too) and run by `make test-faults` (`pytest -m faults`), which CI runs after `make test`."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unlearn.config import load_config
from unlearn.pipeline import run_experiment

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"
# the smoke config without attacks, SISA and the null control, one method: plumbing, fast
SMALL = ["attacks.names=[]", "sisa.enabled=false", "unlearn.methods=[ga]", "retrain.replicates=2",
         "retrain.null_control=false", "finetune.epochs=3", "eval.qa_users=2", "eval.generate_examples=4"]
TRAINING = ("corpus", "base", "pretrain", "original")  # the stages before the retrain reference


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    return run_dir, run_experiment(load_config(SMOKE, SMALL), run_dir, str(SMOKE))


def command(out: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "unlearn", "run", str(SMOKE), *SMALL, *more, "--out", str(out)]


def metrics(run_dir: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    return {name: m["metrics"] for name, m in results["models"].items()}


def temps(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.glob(".*.tmp*")] if run_dir.exists() else []


def copy_of(reference_dir: Path, to: Path, keep: tuple[str, ...]) -> Path:
    """The reference run folder with only the stages named in `keep` (the rest is to be rebuilt)."""
    shutil.copytree(reference_dir, to, ignore=lambda d, names: [
        n for n in names if Path(d) == reference_dir and n.split("-")[0] not in keep and n != ".unlearn"])
    return to


def wait_for(predicate, proc, timeout=180):
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, "the run ended before the moment the test waits for"
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("sig, code, name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupt_discards_the_stage_being_built_and_the_rerun_resumes(reference, tmp_path, sig, code, name):
    tmp_path = copy_of(reference[0], tmp_path / "run", TRAINING)
    proc = subprocess.Popen(command(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(p.name.startswith(".retrain-") for p in temps(tmp_path)), proc)
    time.sleep(0.5)  # mid-stage
    proc.send_signal(sig)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == code, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"stopped by {name}") and "rerun the same command to resume" in last
    assert "Traceback" not in err and not temps(tmp_path)
    kept = sorted(p.name.split("-")[0] for p in tmp_path.iterdir() if p.is_dir())
    assert kept == ["base", "corpus", "original", "pretrain"]
    done = subprocess.run(command(tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert metrics(tmp_path) == metrics(reference[0])


def test_an_interrupt_during_evaluation_stops_the_worker_processes_quietly(reference, tmp_path):
    tmp_path = copy_of(reference[0], tmp_path / "run", (*TRAINING, "retrain", "unlearn"))  # only evaluations left
    proc = subprocess.Popen(command(tmp_path, "eval.workers=2"), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: any(p.name.startswith(".eval-") for p in temps(tmp_path)), proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    time.sleep(0.5)
    assert not temps(tmp_path)


def test_kills_at_stage_boundaries_and_mid_stage_then_a_rerun_matches_an_uninterrupted_run(reference, tmp_path):
    """SIGKILL (no cleanup at all) as each of the first stages starts, alternately at once (a stage
    boundary) and a moment later (mid-stage); every rerun resumes from the finished stages."""
    killed = []
    stage = lambda p: p.name.split(".tmp")[0].lstrip(".")  # noqa: E731 — the stage a temp folder builds
    for n in range(6):
        proc = subprocess.Popen(command(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: {stage(p) for p in temps(tmp_path)} - set(killed), proc)  # a stage not killed yet
        if n % 2:
            time.sleep(0.3)
        proc.kill()
        proc.wait()
        killed += sorted({stage(p) for p in temps(tmp_path)} - set(killed))[:1]
    assert len(killed) == 6 and killed[0].startswith("corpus-")  # six stages, each killed once: progress
    done = subprocess.run(command(tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not temps(tmp_path) and metrics(tmp_path) == metrics(reference[0])


@pytest.mark.parametrize("damage", ["model.safetensors", "per_example.npz"])
def test_a_truncated_stage_file_is_detected_and_rebuilt_to_the_same_bytes(reference, tmp_path, damage):
    run_dir = copy_of(reference[0], tmp_path / "run", (*TRAINING, "retrain", "unlearn", "eval"))
    target = sorted(run_dir.glob(f"original-*/model/{damage}" if damage == "model.safetensors"
                                 else f"eval-*/{damage}"))[0]
    intact = target.read_bytes()
    with open(target, "r+b") as f:
        f.truncate(len(intact) // 2)
    done = subprocess.run(command(run_dir), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"[damaged] {target}" in done.stderr and "truncated" in done.stderr
    assert target.read_bytes() == intact and metrics(run_dir) == metrics(reference[0])


def test_two_runs_into_one_folder_one_runs_the_other_exits_2_naming_it(reference, tmp_path):
    tmp_path = copy_of(reference[0], tmp_path / "run", (*TRAINING, "retrain", "unlearn"))  # evaluations to do
    first = subprocess.Popen(command(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (tmp_path / ".lock").is_file() and (tmp_path / ".lock").read_text().strip(), first)
    second = subprocess.run(command(tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr[-2000:]
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.wait(timeout=600) == 0, first.stderr.read()[-2000:]
    assert metrics(tmp_path) == metrics(reference[0])


def test_a_diverging_original_is_one_plain_line_and_exit_2(reference, tmp_path):
    run_dir = copy_of(reference[0], tmp_path / "run", ("corpus", "base"))
    done = subprocess.run(command(run_dir, "finetune.lr=1e9"), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    # the tiny model's pretraining uses the fine-tuning recipe: it is the first to diverge
    assert last.startswith("error: pretrain: diverged") and "not finite" in last and "lower finetune.lr" in last
    done = subprocess.run(command(run_dir, "finetune.lr=1e9", "model.pretrain_users=0"), cwd=ROOT,
                          capture_output=True, text=True)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert last.startswith("error: original: fine-tuning diverged") and "lower finetune.lr" in last
