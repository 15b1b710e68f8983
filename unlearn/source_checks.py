"""Checks of `data.source` when a config is loaded: the files an own corpus or a TOFU/MUSE folder
names exist, and a synthetic network has enough users for its splits. `bad(key, message)` raises
the ConfigError (config_checks.check_values)."""
from __future__ import annotations

from pathlib import Path

from unlearn.config import DataConfig
from unlearn.corpus.formats import split_source


def check_source(d: DataConfig, bad) -> None:
    """Synthetic: enough users for a holdout, objectors in every round and members who stay.
    Own corpus: the source and the forget list exist (their rows are checked when the corpus is read)."""
    fmt, folder = split_source(d.source)
    if fmt is not None:
        if not Path(folder).is_dir():
            bad("data.source", f"names {d.source!r}, but {folder!r} is not a folder; give {fmt}:FOLDER with the "
                               f"{fmt.upper()}-format files (see unlearn/corpus/formats.py)")
        if d.forget_users is not None:
            bad("data.forget_users", f"is not read for a {fmt.upper()}-format corpus (its forget split objects); "
                                     "remove it")
        return
    if d.source != "synthetic":
        if not d.source.strip() or not Path(d.source).exists():
            bad("data.source", f"names {d.source!r}, which does not exist; give 'synthetic', a .jsonl or .csv "
                               "file, or a datasets save_to_disk folder")
        if not d.forget_users:
            bad("data.forget_users", "must name a file of the objecting user ids, one per line: an own corpus "
                                     f"(data.source {d.source}) needs it")
        if not Path(d.forget_users).is_file():
            bad("data.forget_users", f"names {d.forget_users!r}, which is not a file; give the file of objecting "
                                     "user ids, one per line")
        return
    if d.forget_users is not None:
        bad("data.forget_users", "is only read for an own corpus (data.source a file or folder); "
                                 "remove it, or set data.source")
    if not _users_suffice(d.n_users, d):
        need = next((n for n in range(1, 100_000) if _users_suffice(n, d)), None)
        hint = f"at least {need} here" if need else "lower data.forget_fraction or data.objection_rounds"
        bad("data.n_users", f"is too small (got {d.n_users}): holdout_fraction {d.holdout_fraction:g} and "
                            f"forget_fraction {d.forget_fraction:g} over {d.objection_rounds} objection round(s) need "
                            f"at least one holdout user, one objecting member per round and one member who does "
                            f"not object; raise data.n_users ({hint})")


def _users_suffice(n: int, d: DataConfig) -> bool:
    from unlearn.corpus.generate import holdout_count, objector_count  # late import: corpus imports config

    if n < 2:
        return False
    members = n - holdout_count(n, d.holdout_fraction)
    return members < n and objector_count(members, d.forget_fraction, d.objection_rounds) < members
