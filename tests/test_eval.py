"""`unlearn eval`: checkpoints trained elsewhere are judged like a run's own models — the same
numbers and verdicts for a run's own checkpoints; end to end on a TOFU-format folder."""
import json
from pathlib import Path

import pytest

from unlearn.cli import main
from unlearn.config import load_config
from unlearn.pipeline import run_experiment

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"
SMALL = ["sisa.enabled=false", "unlearn.methods=[ga]", "retrain.replicates=2", "attacks.names=[quantize, prompting]"]


def model_dirs(run_dir: Path) -> dict[str, Path]:
    """{model name: model folder} of a run's training stages (from each stage.json)."""
    out = {}
    for stage in sorted(run_dir.glob("*/stage.json")):
        info = json.loads(stage.read_text())
        name, key = info["stage"], info["key"]
        if name == "retrain":
            reps = 2  # SMALL: replicates 0 and 1 form the reference, replicate 2 is the null control
            r = key.get("replicate", 0)
            name = "retrain" if r == 0 else f"retrain@{r}" if r < reps else "retrain_null"
        elif name.startswith("unlearn-"):
            name = name[len("unlearn-"):]
        elif name not in ("original", "pretrain", "base"):
            continue
        # the run's base model: the pretrained tiny model where there is one (sorted: pretrain after base)
        out["base" if name == "pretrain" else name] = stage.parent / info["model_path"]
    return out


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, run_experiment(load_config(SMOKE, SMALL), run_dir, str(SMOKE))


def test_eval_of_a_runs_own_checkpoints_reproduces_its_numbers_and_verdicts(smoke, tmp_path, capsys):
    run_dir, results = smoke
    dirs = model_dirs(run_dir)
    assert set(dirs) == {"base", "original", "retrain", "retrain@1", "retrain_null", "ga"}
    out = tmp_path / "eval"
    argv = ["eval", str(SMOKE), *SMALL, "--base", str(dirs["base"]), "--original", str(dirs["original"]),
            "--retrain", str(dirs["retrain"]), "--retrain", str(dirs["retrain@1"]),
            "--control", str(dirs["retrain_null"]), "--model", f"ga={dirs['ga']}", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    judged = json.loads((out / "results.json").read_text())
    assert set(judged["models"]) == set(results["models"])
    for name, model in results["models"].items():
        assert judged["models"][name]["metrics"] == model["metrics"], name
        assert judged["models"][name]["ci"] == model["ci"], name
    assert {n: v["verdict"] for n, v in judged["verdict"].items()} == \
           {n: v["verdict"] for n, v in results["verdict"].items()}
    assert judged["verdict"]["ga"]["parts"] == results["verdict"]["ga"]["parts"]
    assert judged["meta"]["checkpoints"]["ga"] == str(dirs["ga"])
    assert (out / "report.md").is_file() and "ga" in capsys.readouterr().out
    # a second eval of the same folders: every stage cached (checkpoints are keyed by content)
    assert main(argv) == 0
    assert json.loads((out / "results.json").read_text())["meta"]["stages"]["built"] == 0


def test_eval_refuses_what_is_not_a_checkpoint(smoke, tmp_path, capsys):
    dirs = model_dirs(smoke[0])
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    cases = [(["--original", str(tmp_path / "none"), "--retrain", str(dirs["retrain"])], "no such folder"),
             (["--original", "someone/not-here", "--retrain", str(dirs["retrain"])],  # offline: HF_HUB_OFFLINE
              "the hub model could not be fetched"),
             (["--original", str(pickled), "--retrain", str(dirs["retrain"])], "only safetensors weights"),
             (["--original", str(dirs["original"])], "give at least one retrain model"),
             (["--original", str(dirs["original"]), "--retrain", str(dirs["retrain"]), "--model", "ga"],
              "must look like NAME=DIR"),
             (["--original", str(dirs["original"]), "--retrain", str(dirs["retrain"]), "--model",
               f"original={dirs['ga']}"], "is taken")]
    for args, fragment in cases:
        assert main(["eval", str(SMOKE), *args, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def tofu_folder(folder: Path, authors: int = 12, per_author: int = 4) -> Path:
    """A small TOFU-format folder: forget / retain / holdout JSON-lines files (TOFU's own names)."""
    folder.mkdir(parents=True)
    jobs = ["baker", "pilot", "nurse", "poet", "judge", "tailor"]
    splits = {"forget10.json": range(0, 3), "retain90.json": range(3, 9), "holdout10.json": range(9, authors)}
    for name, ids in splits.items():
        rows = []
        for a in ids:
            for q in range(per_author):
                job, city = jobs[(a + q) % len(jobs)], f"Town{a}{q}"
                rows.append({"author": f"Author {a}", "question": f"Where did Author {a} work as a {job}?",
                             "answer": f"Author {a} worked as a {job} in {city}.",
                             "paraphrased_answer": f"In {city}, Author {a} was a {job}.",
                             "perturbed_answer": [f"Author {a} worked as a {job} in Town{a + 7}{q}.",
                                                  f"Author {a} worked as a {job} in Nowhere{q}."]})
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_a_tofu_format_folder_runs_end_to_end_and_its_checkpoints_are_judged(tmp_path, capsys):
    tofu = tofu_folder(tmp_path / "tofu")
    over = [f"data.source=tofu:{tofu}", "model.pretrain_users=0", "sisa.enabled=false", "unlearn.methods=[ga]",
            "retrain.replicates=2", "retrain.null_control=false", "attacks.names=[]"]
    assert main(["data", str(SMOKE), *over, "--out", str(tmp_path / "corpus")]) == 0
    printed = capsys.readouterr().out
    assert "TOFU-format corpus" in printed and "qa: 48 questions" in printed
    run_dir = tmp_path / "run"
    assert main(["run", str(SMOKE), *over, "--out", str(run_dir)]) == 0, capsys.readouterr().err
    results = json.loads((run_dir / "results.json").read_text())
    original = results["models"]["original"]["metrics"]
    assert original["forget.truth_ratio"] > 0 and "forget.qa_accuracy" in original
    assert original["forget.nll"] < results["models"]["retrain"]["metrics"]["forget.nll"]  # it saw them
    dirs = model_dirs(run_dir)
    capsys.readouterr()
    assert main(["eval", str(SMOKE), *over, "--base", str(dirs["base"]), "--original", str(dirs["original"]),
                 "--retrain", str(dirs["retrain"]),
                 "--retrain", str(dirs["retrain@1"]), "--model", f"ga={dirs['ga']}",
                 "--out", str(tmp_path / "eval")]) == 0, capsys.readouterr().err
    judged = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert judged["models"]["ga"]["metrics"] == results["models"]["ga"]["metrics"]
    assert judged["verdict"]["ga"]["verdict"] == results["verdict"]["ga"]["verdict"]
