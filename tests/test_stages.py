"""Stage folders: cache hits, invalidation by key, atomic completion, verification on reuse,
stale temp folders, two processes building one stage, input digests."""
import json
import os
import subprocess
import sys

import pytest

from unlearn import stages as stages_module
from unlearn.stages import Stages, content_digest, stage_hash, write_json_atomic
from unlearn.train import make_accelerator


def quiet(*args, **kwargs):
    pass


def writer(calls, text="x"):
    def build(out):
        calls.append(out)
        (out / "file.txt").write_text(text)
        return {"status": "ok"}
    return build


def test_second_run_is_a_cache_hit(tmp_path):
    calls = []
    stages = Stages(tmp_path, make_accelerator(), log=quiet)
    first, info = stages.run("corpus", {"seed": 0}, writer(calls))
    again, info2 = Stages(tmp_path, make_accelerator(), log=quiet).run("corpus", {"seed": 0}, writer(calls))
    assert first == again and len(calls) == 1
    assert info2 == info and info["key"] == {"seed": 0} and info["wall_s"] >= 0
    assert (first / "file.txt").read_text() == "x"
    assert first.name == f"corpus-{stage_hash({'stage': 'corpus', 'seed': 0})}"


def test_changed_key_builds_a_new_folder_and_keeps_the_old(tmp_path):
    calls = []
    stages = Stages(tmp_path, make_accelerator(), log=quiet)
    a, _ = stages.run("unlearn-ga", {"lr": 1e-4, "original": "original-abc"}, writer(calls))
    b, _ = stages.run("unlearn-ga", {"lr": 2e-4, "original": "original-abc"}, writer(calls))
    c, _ = stages.run("unlearn-ga", {"lr": 1e-4, "original": "original-def"}, writer(calls))
    assert len({a, b, c}) == 3 and len(calls) == 3 and a.is_dir()
    assert stages.hits == [] and len(stages.built) == 3


def test_failed_build_leaves_no_stage_and_the_next_run_starts_clean(tmp_path):
    stages = Stages(tmp_path, make_accelerator(), log=quiet)

    def dies(out):
        (out / "half.txt").write_text("partial")
        raise KeyboardInterrupt  # as if killed in the middle

    with pytest.raises(KeyboardInterrupt):
        stages.run("original", {"seed": 0}, dies)
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]  # nothing final
    calls = []
    final, _ = stages.run("original", {"seed": 0}, writer(calls))
    assert len(calls) == 1 and not (final / "half.txt").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_write_json_atomic(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2} and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def fresh(tmp_path):
    """A Stages as a new process would see it (nothing verified yet)."""
    stages_module._VERIFIED.clear()
    return Stages(tmp_path, make_accelerator(), log=quiet)


def test_stage_json_records_size_and_checksum_of_every_file(tmp_path):
    final, info = fresh(tmp_path).run("eval", {"seed": 0}, writer([], "abc"))
    size, checksum = info["files"]["file.txt"]
    assert size == 3 and checksum == stages_module.file_checksum(final / "file.txt") and len(checksum) == 32
    assert "stage.json" not in info["files"]


@pytest.mark.parametrize("damage", ["truncate", "alter", "delete", "stage_json", "no_stage_json"])
def test_a_damaged_stage_is_detected_named_and_rebuilt_to_the_same_files(tmp_path, damage, capsys):
    calls = []
    final, _ = fresh(tmp_path).run("eval", {"seed": 0}, writer(calls, "numbers 1.25"))
    target = final / "file.txt"
    if damage == "truncate":
        target.write_text("numbers")
    elif damage == "alter":
        target.write_text("numbers 9.99")  # same size, other bytes
    elif damage == "delete":
        target.unlink()
    elif damage == "stage_json":
        (final / "stage.json").write_text("{not json")
    else:
        (final / "stage.json").unlink()  # a stage folder without stage.json used to block every rerun
    messages = []
    stages_module._VERIFIED.clear()  # a later process
    again, info = Stages(tmp_path, make_accelerator(), log=lambda m, **k: messages.append(m)).run(
        "eval", {"seed": 0}, writer(calls, "numbers 1.25"))
    assert again == final and len(calls) == 2 and target.read_text() == "numbers 1.25"
    named = "stage.json" if "stage_json" in damage else "file.txt"
    assert any(m.startswith("[damaged]") and named in m for m in messages), messages
    stages_module._VERIFIED.clear()
    assert fresh(tmp_path).run("eval", {"seed": 0}, writer(calls))[0] == final and len(calls) == 2  # now sound


def test_an_intact_stage_is_verified_once_per_process(tmp_path, monkeypatch):
    fresh(tmp_path).run("eval", {"seed": 0}, writer([]))
    stages_module._VERIFIED.clear()
    checked = []
    real = stages_module.check_files
    monkeypatch.setattr(stages_module, "check_files", lambda *a: checked.append(1) or real(*a))
    for _ in range(3):
        Stages(tmp_path, make_accelerator(), log=quiet).run("eval", {"seed": 0}, writer([]))
    assert checked == [1]


def test_a_stage_finished_by_an_older_version_gets_its_files_recorded(tmp_path):
    final, info = fresh(tmp_path).run("eval", {"seed": 0}, writer([]))
    del info["files"]
    (final / "stage.json").write_text(json.dumps(info))
    _, again = fresh(tmp_path).run("eval", {"seed": 0}, writer([]))
    assert "files" in json.loads((final / "stage.json").read_text()) and "files" in again


def test_temp_folders_of_dead_processes_are_removed_and_of_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    name = f"eval-{stage_hash({'stage': 'eval', 'seed': 0})}"
    host = stages_module.socket.gethostname()
    stale = tmp_path / f".{name}.tmp-{host}-{int(dead.stdout)}"
    live = tmp_path / f".{name}.tmp-{host}-{os.getppid()}"  # pytest's parent: alive
    old_style = tmp_path / f".{name}.tmp"
    for folder in (stale, live, old_style):
        folder.mkdir()
        (folder / "half.txt").write_text("partial")
    fresh(tmp_path).run("eval", {"seed": 0}, writer([]))
    assert not stale.exists() and not old_style.exists() and live.exists()


def test_two_processes_building_one_stage_share_the_first_finished_folder(tmp_path):
    """The second builder finds the folder already there at its rename: it keeps the winner's."""
    calls, messages = [], []
    outer = Stages(tmp_path, make_accelerator(), log=lambda m, **k: messages.append(m))

    def slow_build(out):
        (out / "file.txt").write_text("loser")
        other = Stages(tmp_path, make_accelerator(), log=quiet)  # meanwhile another process finishes it
        other._pid = os.getpid() + 1  # its own temp folder, as another process's would be
        other.run("eval", {"seed": 0}, writer(calls, "winner"))
        return {"status": "ok"}

    final, info = outer.run("eval", {"seed": 0}, slow_build)
    assert (final / "file.txt").read_text() == "winner" and len(calls) == 1
    assert info["files"]["file.txt"][0] == len("winner")
    assert any(m.startswith("[shared]") for m in messages)
    assert [p.name for p in tmp_path.iterdir()] == [final.name]  # the loser's temp folder is gone


def _concurrent_builder(folder, barrier, results):
    """One of two processes building the same stage at the same time (both inside build at once)."""
    messages = []

    def build(out):
        (out / "model.bin").write_bytes(os.urandom(1 << 16))  # each builder's own bytes
        (out / "who.txt").write_text(str(os.getpid()))
        barrier.wait(timeout=60)  # both have built; now both publish
        return {"status": "ok"}

    final, info = Stages(folder, make_accelerator(), log=lambda m, **k: messages.append(m)).run("eval", {"k": 1}, build)
    results.put((os.getpid(), final.name, (final / "who.txt").read_text(), info["files"], messages))


def test_two_concurrent_builder_processes_leave_one_valid_stage_folder(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_concurrent_builder, args=(tmp_path, barrier, results)) for _ in range(2)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    (pid_a, name_a, who_a, files_a, log_a), (pid_b, name_b, who_b, files_b, log_b) = outcomes
    assert [p.name for p in tmp_path.iterdir()] == [name_a] == [name_b]  # one folder, no temp folder left
    final = tmp_path / name_a
    assert who_a == who_b and int(who_a) in (pid_a, pid_b)  # both use the winner's files
    assert files_a == files_b == json.loads((final / "stage.json").read_text())["files"]
    assert stages_module.check_files(final, files_a) is None  # the records match the bytes on disk
    shared = [log for log in (log_a, log_b) if any(m.startswith("[shared]") for m in log)]
    assert len(shared) == 1  # the loser said it used the winner's folder
    _, info = Stages(tmp_path, make_accelerator(), log=quiet).run("eval", {"k": 1}, writer([], "never"))
    assert (final / "who.txt").read_text() == who_a  # a later run reuses it


def test_content_digest_follows_the_bytes_not_the_path(tmp_path):
    f = tmp_path / "forget.txt"
    f.write_text("u1\nu2\n")
    first = content_digest(f)
    os.utime(f, (0, 0))
    assert content_digest(f) == first  # touching is not editing
    f.write_text("u1\nu3\n")
    assert content_digest(f) != first
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    d1 = content_digest(folder)
    (folder / "config.json").write_text("{ }")
    assert content_digest(folder) != d1
