"""Stage folders: content-hashed, written atomically, reused when the config has not changed.

A stage's folder is `<run_dir>/<name>-<hash>/`, the hash covering exactly the config the stage
depends on plus the folder names of its parent stages (so a change upstream invalidates
everything downstream, and a change to one method's hyper-parameters reuses the fine-tuned
models). A stage is built in `.<name>-<hash>.tmp/` and renamed into place only when complete,
with `stage.json` (key, outcome, wall time) inside: a folder that exists is finished. A killed
run leaves at most a temp folder, which the next run deletes and rebuilds.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from unlearn.memory import release_freed_memory


def stage_hash(key: dict) -> str:
    """12 hex digits of sha256 over the canonical JSON of `key`."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to a temp name in the same folder, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


class Stages:
    """Runs stages under one run directory, on every process of a (possibly distributed) run."""

    def __init__(self, run_dir: Path, accelerator, log=print):
        self.run_dir, self.acc, self.log = Path(run_dir), accelerator, log
        self.hits, self.built = [], []
        self.wall_s: dict[str, float] = {}  # build time of every stage used, cached ones included

    def run(self, name: str, key: dict, build: Callable[[Path], dict]) -> tuple[Path, dict]:
        """Return (folder, stage.json) for the stage, building it unless already finished.

        `build(tmp_dir)` runs on every process (training needs them all); it writes files only
        on the main process and returns the outcome to record (JSON-able dict).
        """
        final = self.run_dir / f"{name}-{stage_hash({'stage': name, **key})}"
        if (final / "stage.json").is_file():
            self.hits.append(final.name)
            self.say(f"[cached] {final.name}")
            info = json.loads((final / "stage.json").read_text())
            self.wall_s[final.name] = info["wall_s"]
            return final, info
        tmp = self.run_dir / f".{final.name}.tmp"
        if self.acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)  # what a killed run left behind
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        self.say(f"[build]  {final.name}")
        start = time.perf_counter()
        outcome = build(tmp)
        info = {"stage": name, "key": key, "wall_s": time.perf_counter() - start, **outcome}
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            (tmp / "stage.json").write_text(json.dumps(info, indent=1) + "\n")
            os.replace(tmp, final)
        self.acc.wait_for_everyone()
        self.built.append(final.name)
        self.wall_s[final.name] = info["wall_s"]
        release_freed_memory()  # what the stage freed goes back to the OS, not to the next stage
        return final, info

    def say(self, message: str) -> None:
        """Print a progress line on the main process."""
        if self.acc.is_main_process:
            self.log(message, file=sys.stderr, flush=True)
