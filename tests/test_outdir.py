"""Output folders: nothing we did not write is touched, one run per folder at a time, and edited
input files rebuild exactly the stages that read them."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unlearn.cli import main
from unlearn.config import load_config
from unlearn.config_parse import ConfigError
from unlearn.outdir import RunLock, claim, held_run_folder
from unlearn.pipeline import prepare
from unlearn.stages import Stages
from unlearn.train import make_accelerator

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def users_folder(tmp_path):
    """A folder of someone's own files, as `--out` might name by mistake."""
    folder = tmp_path / "thesis"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.txt").write_text("three years of work")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return folder


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", [["data", str(SMOKE)], ["run", str(SMOKE)], ["sisa-check", str(SMOKE)]])
def test_a_non_empty_folder_we_did_not_write_is_refused_and_left_as_it_was(tmp_path, capsys, command):
    folder = users_folder(tmp_path)
    before = snapshot(folder)
    assert main([*command, "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "did not create" in err and len(err.strip().splitlines()) == 1
    assert snapshot(folder) == before and sorted(p.name for p in folder.iterdir()) == ["sub", "thesis.txt"]


def test_our_corpus_folder_is_replaced_but_a_run_folder_is_not_a_corpus_folder(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert main(["data", str(SMOKE), "--out", str(out), "data.n_users=30"]) == 0
    assert main(["data", str(SMOKE), "--out", str(out), "data.n_users=32"]) == 0  # ours: replaced
    assert json.loads((out / "meta.json").read_text())["config"]["n_users"] == 32
    run_dir = claim(tmp_path / "run", "run")
    (run_dir / "results.json").write_text("{}")
    capsys.readouterr()
    assert main(["data", str(SMOKE), "--out", str(run_dir)]) == 2
    assert "an unlearn run folder" in capsys.readouterr().err and (run_dir / "results.json").is_file()


def test_an_earlier_versions_corpus_and_run_folders_are_recognised(tmp_path):
    corpus = tmp_path / "c"
    for sub in ("texts", "tables"):
        (corpus / sub).mkdir(parents=True)
    (corpus / "meta.json").write_text("{}")
    claim(corpus, "corpus")  # no error: exactly what a corpus save writes
    run = tmp_path / "r"
    (run / "original-0123456789ab").mkdir(parents=True)
    (run / "original-0123456789ab" / "stage.json").write_text("{}")
    claim(run, "run")
    (run / "notes.txt").write_text("mine")  # a stage folder makes it ours, other files may sit beside
    claim(run, "run")
    with pytest.raises(ConfigError, match="did not create"):
        claim(tmp_path / "r" / "original-0123456789ab", "run")


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["data", str(SMOKE), "--out", str(blocker)]) == 2
    assert "names a file" in capsys.readouterr().err
    assert main(["run", str(SMOKE), "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the output folder" in err and str(blocker / "sub") in err and blocker.read_text() == "x"


def test_publishing_into_a_foreign_folder_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text("{}")
    folder = users_folder(tmp_path)
    before = snapshot(folder)
    assert main(["report", str(run_dir), "--publish", str(folder)]) == 2
    assert "--publish" in capsys.readouterr().err and snapshot(folder) == before


HOLD = ("import sys, time; from pathlib import Path; from unlearn.outdir import RunLock\n"
        "with RunLock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)\n")


def test_a_second_run_into_a_held_folder_exits_2_naming_the_holder_and_a_dead_holders_lock_is_taken(tmp_path, capsys):
    run_dir = claim(tmp_path / "run", "run")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=f"pid {holder.pid} on "):
            RunLock(run_dir).__enter__()
        assert main(["run", str(SMOKE), "--out", str(run_dir)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "another unlearn run" in err
    finally:
        holder.kill()  # SIGKILL: no cleanup, the lock file stays behind with its content
        holder.wait()
    assert f"pid {holder.pid}" in (run_dir / ".lock").read_text()
    with RunLock(run_dir):  # the kernel released the dead process's lock
        assert f"pid {os.getpid()}" in (run_dir / ".lock").read_text()


def test_a_run_that_wrote_nothing_leaves_no_folder(tmp_path):
    run_dir = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with held_run_folder(run_dir, make_accelerator()):
            raise RuntimeError("bad input found before any stage")
    assert not run_dir.exists()


def own_corpus(tmp_path):
    rows = [{"user_id": f"u{i}", "text": f"post {j} of user {i} about the weather and the city", "group":
             "holdout" if i >= 16 else "member"} for i in range(20) for j in range(3)]
    source = tmp_path / "posts.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    forget = tmp_path / "objectors.txt"
    forget.write_text("u1\nu2\n")
    return source, forget


def used(stages: Stages) -> dict[str, str]:
    """{stage name: folder} of the stages a call built or reused."""
    return {n.rsplit("-", 1)[0]: n for n in stages.hits + stages.built}


def test_editing_an_input_file_rebuilds_exactly_the_stages_that_read_it(tmp_path):
    source, forget = own_corpus(tmp_path)
    overrides = [f"data.source={source}", f"data.forget_users={forget}", "model.pretrain_users=0"]
    run_dir = tmp_path / "run"

    def stages_now(more=()):
        stages = Stages(run_dir, make_accelerator(), log=lambda *a, **k: None)
        prepare(load_config(SMOKE, [*overrides, *more]), 0, stages, make_accelerator())
        return used(stages), stages

    first, _ = stages_now()
    os.utime(forget, (time.time() + 5, time.time() + 5))  # touched, not edited: everything cached
    again, stages = stages_now()
    assert again == first and stages.built == []
    forget.write_text("u1\nu3\n")  # the same path, other objectors
    edited, stages = stages_now()
    corpus = [n for n in stages.built if n.startswith("corpus-")]
    assert corpus and (run_dir / corpus[0] / "corpus" / "meta.json").is_file()
    assert edited["corpus"] != first["corpus"] and edited["base"] != first["base"]  # the tiny tokenizer reads it
    assert len(stages.built) == 2
    with source.open("a") as f:  # one more post in the corpus file
        f.write(json.dumps({"user_id": "u5", "text": "one more post about the weather"}) + "\n")
    more, stages = stages_now()
    assert more["corpus"] not in (first["corpus"], edited["corpus"]) and len(stages.built) == 2
    edited = more
    # a local model folder: its content is the base stage's input, the corpus does not read it
    model_dir = tmp_path / "my-model"
    (run_dir / edited["base"] / "model").rename(model_dir)
    local, stages = stages_now([f"model.name={model_dir}"])
    assert local["corpus"] == edited["corpus"] and [n.split("-")[0] for n in stages.built] == ["base"]
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    changed, stages = stages_now([f"model.name={model_dir}"])
    assert [n.split("-")[0] for n in stages.built] == ["base"] and changed["corpus"] == local["corpus"]
