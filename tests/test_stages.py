"""Stage folders: cache hits, invalidation by key, atomic completion."""
import json

import pytest

from unlearn.stages import Stages, stage_hash, write_json_atomic
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
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_json_atomic(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2} and [p.name for p in tmp_path.iterdir()] == ["results.json"]
