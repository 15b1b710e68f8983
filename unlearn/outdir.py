"""Output folders: never write into (let alone delete) a folder we did not create, and one run
at a time per run folder.

- `claim(folder, kind)`: the folder must not exist, be empty, or be one of ours — marked by a
  `.unlearn` file naming its kind ("run" or "corpus"), or recognisably written by an earlier
  version (a run folder holding finished stage folders; a corpus folder holding exactly
  `texts/`, `tables/` and `meta.json`). Anything else is refused with a ConfigError naming the
  folder, so `--out ~/thesis` cannot touch the thesis.
- `RunLock(folder)`: an advisory `fcntl.flock` on `<folder>/.lock`, which names the holder's pid,
  host and start time. The kernel drops the lock when its process dies, so the lock of a killed
  run is taken over without anyone deleting anything; a second live run into the same folder
  exits 2 naming the holder.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path

from unlearn.config_parse import ConfigError

MARKER = ".unlearn"
CORPUS_ENTRIES = {"texts", "tables", "meta.json"}


def is_ours(folder: Path, kind: str) -> bool:
    """Whether `folder` (existing) was written by us as a `kind` folder."""
    marker = folder / MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text()).get("kind") == kind
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return False
    names = {p.name for p in folder.iterdir()}
    if kind == "corpus":
        return names == CORPUS_ENTRIES
    from unlearn.stages import STAGE_DIR  # an earlier version's run folder: finished stages

    return any(STAGE_DIR.match(n) and (folder / n / "stage.json").is_file() for n in names)


def check(folder: Path, kind: str, flag: str = "--out") -> None:
    """Raise ConfigError unless `folder` is absent, empty or a `kind` folder of ours; writes nothing."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: {flag} names a file, not a folder; give a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()) and not is_ours(folder, kind):
        other = next((k for k in ("run", "corpus", "sweep") if k != kind and is_ours(folder, k)), None)
        what = f"an unlearn {other} folder" if other else "a folder unlearn did not create"
        raise ConfigError(f"{folder}: {flag} names {what}, and it is not empty; nothing was written. Give a "
                          f"new or empty folder (unlearn writes only into folders it created)")


def claim(folder: Path, kind: str, flag: str = "--out") -> Path:
    """Create `folder` (or accept an empty one or one of ours) and mark it as a `kind` folder."""
    folder = Path(folder)
    check(folder, kind, flag)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / MARKER
        if not marker.is_file():
            marker.write_text(json.dumps({"kind": kind}) + "\n")
    except OSError as err:
        raise ConfigError(f"{folder}: cannot write the output folder ({err.strerror}); give a writable "
                          f"{flag} folder") from None
    return folder


class RunLock:
    """`with RunLock(run_dir):` holds the run folder for this process (module docstring)."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(f"{self.path.parent}: another unlearn run is writing into this folder ({holder}); "
                              "wait for it to finish, or give another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class held_run_folder:
    """`with held_run_folder(run_dir, acc):` claim the run folder and hold its lock, on the main
    process of a (possibly distributed) run; the other ranks wait until it is claimed."""

    def __init__(self, folder: Path, accelerator):
        self.folder, self.acc, self.lock, self.created = Path(folder), accelerator, None, False

    def __enter__(self) -> Path:
        if self.acc.is_main_process:
            self.created = not self.folder.exists()
            claim(self.folder, "run")
            self.lock = RunLock(self.folder).__enter__()
        self.acc.wait_for_everyone()
        return self.folder

    def __exit__(self, *exc) -> None:
        if self.lock is not None:
            self.lock.__exit__(*exc)
            if self.created and {p.name for p in self.folder.iterdir()} <= {MARKER, ".lock"}:
                shutil.rmtree(self.folder, ignore_errors=True)  # a run that wrote nothing leaves nothing
