"""Bring your own corpus: a JSONL/CSV file or a `datasets` folder with user_id and text.

Optional columns: kind (default "post"), lang (default "unknown"), text_id (default row
number) and group ("holdout" marks users never trained on). `data.forget_users` names a file
of objecting user ids, one per line; all of them object in round 1. Without personal-data
annotations there are no QA pairs or canaries, so those metrics are skipped.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets

from unlearn.config import DataConfig, to_dict
from unlearn.corpus.tables import OWN_USER_FEATURES, QA_FEATURES, TEXT_COLUMNS, Corpus, CorpusError, corpus_from_rows


def read_rows(path: Path) -> list[dict]:
    """Rows of a .jsonl/.csv file or a save_to_disk folder, as dicts."""
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder (data.source must be 'synthetic', "
                          "a .jsonl or .csv file, or a datasets save_to_disk folder)")
    if path.is_dir():
        data = datasets.load_from_disk(str(path))
        if isinstance(data, datasets.DatasetDict):
            if "train" not in data:
                raise CorpusError(f"{path}: a DatasetDict needs a 'train' split (has: {', '.join(data)})")
            data = data["train"]
        return data.to_list()
    if path.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise CorpusError(f"{path}: line {n} is not valid JSON ({err.msg})") from None
        return rows
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    raise CorpusError(f"{path}: unsupported file type '{path.suffix}' (use .jsonl, .csv or a datasets folder)")


def read_forget_ids(cfg: DataConfig) -> list[str]:
    """The objecting user ids listed in `data.forget_users`."""
    if not cfg.forget_users:
        raise CorpusError(f"{cfg.source}: an own corpus needs data.forget_users, a file listing "
                          "the objecting user ids, one per line")
    path = Path(cfg.forget_users)
    if not path.is_file():
        raise CorpusError(f"{path}: forget_users file not found")
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise CorpusError(f"{path}: the forget_users list is empty; list at least one user id, one per line")
    return ids


def build_own(cfg: DataConfig, seed: int) -> Corpus:
    """Splits and a users table for the user's own texts; QA and canary tables stay empty."""
    path = Path(cfg.source)
    rows = read_rows(path)
    if not rows:
        raise CorpusError(f"{path}: the corpus has no rows")
    for col in ("user_id", "text"):
        if col not in rows[0]:
            raise CorpusError(f"{path}: missing required column '{col}' (columns: {', '.join(rows[0])})")
    forget = read_forget_ids(cfg)
    users: dict[str, str] = {}  # user id -> group, in order of first appearance
    for row in rows:
        users.setdefault(str(row["user_id"]), "holdout" if row.get("group") == "holdout" else "member")
    for uid in forget:
        if users.get(uid) != "member":
            where = "is a holdout user" if uid in users else "is not in the corpus"
            raise CorpusError(f"{cfg.forget_users}: objecting user id '{uid}' {where} ({path}); "
                              "fix the forget_users list")
    objecting = set(forget)
    texts = []
    for i, row in enumerate(rows):
        uid = str(row["user_id"])
        texts.append({"text_id": str(row.get("text_id") or f"t{i:06d}"), "user_id": uid, "text": str(row["text"]),
                      "kind": row.get("kind") or "post", "lang": row.get("lang") or "unknown", "pii": [],
                      "canary_id": None, "mentions": [], "group": users[uid], "objects": uid in objecting})
    user_rows = [{"user_id": uid, "group": g, "objects": uid in objecting, "objection_round": int(uid in objecting)}
                 for uid, g in users.items()]
    meta = {"source": str(path), "seed": seed, "config": to_dict(cfg),
            "notes": ["own corpus: no QA pairs or canaries, so QA and canary metrics will be skipped",
                      f"{len(objecting)} objecting users from {cfg.forget_users}"]}
    return corpus_from_rows(texts, {c: [] for c in TEXT_COLUMNS}, user_rows, {c: [] for c in QA_FEATURES},
                            [], meta, user_features=OWN_USER_FEATURES)
