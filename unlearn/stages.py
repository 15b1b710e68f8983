"""Stage folders: content-hashed, written atomically, verified on reuse, safe to share.

A stage's folder is `<run_dir>/<name>-<hash>/`, the hash covering exactly the config the stage
depends on, the content digests of the input files it reads, and the folder names of its parent
stages (so a change upstream invalidates everything downstream, and a change to one method's
hyper-parameters reuses the fine-tuned models). A stage is built in
`.<name>-<hash>.tmp-<host>-<pid>/` and renamed into place only when complete, with `stage.json`
inside (key, outcome, wall time, and the size and BLAKE2b checksum of every file): a folder that
exists is finished.

- Killed runs leave at most a temp folder; the next build of that stage removes the temp folders
  of processes that no longer run (on this host).
- Two processes building the same stage (two runs sharing a cache) each build in their own temp
  folder; the first rename wins and the other discards its copy and uses the winner's.
- A finished stage whose files are missing, truncated or altered is detected when it is reused
  (once per process), reported with the file's name, and rebuilt.
- An interrupted build (Ctrl-C, SIGTERM, an exception) removes its temp folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Callable

from unlearn.memory import release_freed_memory

_VERIFIED: set[str] = set()  # stage folders whose files this process has checked
STAGE_DIR = re.compile(r"^[a-z0-9_@.-]+-[0-9a-f]{12}$")  # a finished stage's folder name


def stage_hash(key: dict) -> str:
    """12 hex digits of sha256 over the canonical JSON of `key`."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to a temp name in the same folder, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def file_checksum(path: Path) -> str:
    """BLAKE2b (hashlib) of a file's bytes, hex: ~1 GB/s here, so a SmolLM2 model costs ~0.5 s."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def file_records(folder: Path) -> dict[str, list]:
    """{relative path: [size, checksum]} of every file under `folder` except stage.json."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "stage.json":
            out[path.relative_to(folder).as_posix()] = [path.stat().st_size, file_checksum(path)]
    return out


def check_files(folder: Path, records: dict[str, list]) -> str | None:
    """None if every recorded file is there with its size and checksum, else what is wrong."""
    for rel, (size, checksum) in records.items():
        path = folder / rel
        if not path.is_file():
            return f"{path} is missing"
        actual = path.stat().st_size
        if actual != size:
            return f"{path} has {actual} bytes, {size} when the stage finished (truncated or rewritten)"
        if file_checksum(path) != checksum:
            return f"{path} was altered after the stage finished (checksum differs)"
    return None


def content_digest(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's (relative path, file digest) list: what a stage
    reading an input file keys on, so that an edited input rebuilds it (the path alone does not)."""
    path = Path(path)
    if path.is_file():
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
        return digest.hexdigest()
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path).as_posix()}\0{content_digest(item)}\n".encode())
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(run_dir: Path, final_name: str) -> None:
    """Remove `final_name`'s temp folders left by processes of this host that no longer run."""
    host = socket.gethostname()
    for tmp in run_dir.glob(f".{final_name}.tmp*"):
        match = re.fullmatch(rf"\.{re.escape(final_name)}\.tmp(?:-(.+)-(\d+))?", tmp.name)
        if not match:
            continue
        tmp_host, pid = match.group(1), match.group(2)
        if tmp_host is None or (tmp_host == host and not _alive(int(pid))):  # unnamed: an older version's
            shutil.rmtree(tmp, ignore_errors=True)


class Stages:
    """Runs stages under one run directory, on every process of a (possibly distributed) run."""

    def __init__(self, run_dir: Path, accelerator, log=print):
        self.run_dir, self.acc, self.log = Path(run_dir), accelerator, log
        self.hits, self.built = [], []
        self.wall_s: dict[str, float] = {}  # build time of every stage used, cached ones included
        self.current: str | None = None  # the stage being built, for the interrupt message
        self._pid: int | None = None

    def run(self, name: str, key: dict, build: Callable[[Path], dict]) -> tuple[Path, dict]:
        """Return (folder, stage.json) for the stage, building it unless already finished.

        `build(tmp_dir)` runs on every process (training needs them all); it writes files only
        on the main process and returns the outcome to record (JSON-able dict).
        """
        final = self.run_dir / f"{name}-{stage_hash({'stage': name, **key})}"
        info = self._reuse(final)
        if info is not None:
            return final, info
        tmp = self.run_dir / f".{final.name}.tmp-{socket.gethostname()}-{self._main_pid()}"
        if self.acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.run_dir, final.name)  # what killed runs left behind
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        self.say(f"[build]  {final.name}")
        start, self.current = time.perf_counter(), final.name
        try:
            outcome = build(tmp)
            info = {"stage": name, "key": key, "wall_s": time.perf_counter() - start, **outcome}
            self.acc.wait_for_everyone()
            if self.acc.is_main_process:
                info["files"] = file_records(tmp)
                (tmp / "stage.json").write_text(json.dumps(info, indent=1) + "\n")
                self._publish(tmp, final)
        except BaseException:
            if self.acc.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            self.current = None
        self.acc.wait_for_everyone()
        info = json.loads((final / "stage.json").read_text())  # the winner's, if another process won
        _VERIFIED.add(str(final.resolve()))
        self.built.append(final.name)
        self.wall_s[final.name] = info["wall_s"]
        release_freed_memory()  # what the stage freed goes back to the OS, not to the next stage
        return final, info

    def _reuse(self, final: Path) -> dict | None:
        """The finished stage's stage.json, or None if it must be built (absent or damaged)."""
        if not (final / "stage.json").is_file():
            if final.is_dir():  # never published so (the rename carries stage.json): a leftover, e.g. copied in part
                self._discard(final, f"{final} has no stage.json")
            return None
        try:
            info = json.loads((final / "stage.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            info, problem = None, f"{final / 'stage.json'} is not valid JSON"
        else:
            problem = None
            if str(final.resolve()) not in _VERIFIED:
                if "files" in info:
                    problem = check_files(final, info["files"])
                elif self.acc.is_main_process:  # finished by an older version: record its files now
                    info["files"] = file_records(final)
                    write_json_atomic(final / "stage.json", info)
        self.acc.wait_for_everyone()
        if problem is not None:
            self._discard(final, problem)
            return None
        _VERIFIED.add(str(final.resolve()))
        self.hits.append(final.name)
        self.say(f"[cached] {final.name}")
        self.wall_s[final.name] = info["wall_s"]
        return info

    def _discard(self, final: Path, problem: str) -> None:
        """Report a damaged stage folder and remove it (moved aside first: the name frees at once)."""
        self.say(f"[damaged] {problem}: rebuilding {final.name}")
        if self.acc.is_main_process:
            aside = final.with_name(f".{final.name}.damaged-{os.getpid()}")
            os.replace(final, aside)
            shutil.rmtree(aside, ignore_errors=True)
        self.acc.wait_for_everyone()

    def _publish(self, tmp: Path, final: Path) -> None:
        """Rename `tmp` to `final`; if another process finished the same stage first, keep its
        folder (the same key, so the same result) and drop ours."""
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "stage.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            self.say(f"[shared] {final.name}: another process finished it first; using its folder")

    def _main_pid(self) -> int:
        """Rank 0's pid, on every rank (all ranks build into one temp folder)."""
        if self._pid is None:
            self._pid = os.getpid()
            if self.acc.num_processes > 1:
                from accelerate.utils import broadcast_object_list

                self._pid = broadcast_object_list([self._pid], from_process=0)[0]
        return self._pid

    def say(self, message: str) -> None:
        """Print a progress line on the main process."""
        if self.acc.is_main_process:
            self.log(message, file=sys.stderr, flush=True)
