"""Bring your own corpus: a JSONL/CSV file or a `datasets` folder with user_id and text.

Optional columns: kind (default "post"), lang (default "unknown"), text_id (default t + row
number) and group ("member", the default, or "holdout": users never trained on; one group per
user). `data.forget_users` names a file of objecting user ids, one per line; all of them object
in round 1. Without personal-data annotations there are no QA pairs or canaries, so those
metrics are skipped.

Every row is checked before a corpus is built, and the first problem raises CorpusError naming
the file, the row (JSONL: line number; CSV: line number with the header as line 1; datasets
folder: row index), the column and what to do. Files must be UTF-8 (a byte order mark is fine).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import datasets

from unlearn.config import DataConfig, to_dict
from unlearn.corpus.tables import OWN_USER_FEATURES, QA_FEATURES, TEXT_COLUMNS, Corpus, CorpusError, corpus_from_rows

REQUIRED = ("user_id", "text")
OPTIONAL = ("kind", "lang", "text_id", "group")
GROUPS = ("member", "holdout")
CSV_FIELD_LIMIT = 256 * 1024 * 1024  # the csv module's default (128 KiB per field) is below a long text


def read_text(path: Path, what: str) -> str:
    """A UTF-8 file's text (a leading byte order mark dropped); other encodings name the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise CorpusError(f"{path}: {what} must be UTF-8 text, but byte {err.start} (line {line}) is "
                          f"0x{data[err.start]:02x}, not UTF-8; save the file as UTF-8 (e.g. `iconv -f latin1 "
                          f"-t utf-8`)") from None


def read_rows(path: Path) -> list[tuple[str, object]]:
    """(where, row) for each row of a .jsonl/.csv file or a save_to_disk folder; `where` names the
    row for error messages ("line 3", "row 2"). Rows are returned as read: `check_rows` checks them."""
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder (data.source must be 'synthetic', "
                          "a .jsonl or .csv file, or a datasets save_to_disk folder)")
    if path.is_dir():
        return [(f"row {i}", row) for i, row in enumerate(_dataset_rows(path))]
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_rows(path)
    if suffix == ".csv":
        return _csv_rows(path)
    raise CorpusError(f"{path}: unsupported file type '{path.suffix}' (use .jsonl, .csv or a datasets folder)")


def _dataset_rows(path: Path) -> list[dict]:
    try:
        data = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as err:
        raise CorpusError(f"{path}: not a datasets save_to_disk folder ({str(err).splitlines()[0]}); give a "
                          "folder written by Dataset.save_to_disk, or a .jsonl or .csv file") from None
    if isinstance(data, datasets.DatasetDict):
        if "train" not in data:
            raise CorpusError(f"{path}: a DatasetDict needs a 'train' split (has: {', '.join(data)})")
        data = data["train"]
    return data.to_list()


def _jsonl_rows(path: Path) -> list[tuple[str, object]]:
    rows = []
    # split on newlines only: str.splitlines would also split at U+2028 inside a JSON string
    for n, line in enumerate(read_text(path, "a JSONL corpus").split("\n"), 1):
        if line.strip():
            try:
                rows.append((f"line {n}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise CorpusError(f"{path}: line {n} is not valid JSON ({err.msg} at column {err.colno}); "
                                  "each line must be one JSON object") from None
    return rows


def _csv_rows(path: Path) -> list[tuple[str, object]]:
    text = read_text(path, "a CSV corpus")
    limit = csv.field_size_limit(CSV_FIELD_LIMIT)
    rows = []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:
            raise CorpusError(f"{path}: line 1 (the header) names column(s) {', '.join(map(repr, repeated))} "
                              "more than once; give each column once")
        for row in reader:  # line_num: the line the row ends on, the header being line 1
            where = f"line {reader.line_num}"
            if None in row:
                raise CorpusError(f"{path}: {where} has {len(row[None])} more field(s) than the header's "
                                  f"{len(header)} columns; quote a text that holds a comma (\"a, b\")")
            short = [k for k, v in row.items() if v is None]
            if short:
                raise CorpusError(f"{path}: {where} has fewer fields than the header's {len(header)} columns "
                                  f"(no value for {', '.join(short)}); give every column, empty if unknown")
            rows.append((where, row))
    except csv.Error as err:
        raise CorpusError(f"{path}: line {reader.line_num}: not valid CSV ({err})") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def check_rows(path: Path, rows: list[tuple[str, object]]) -> list[dict]:
    """Each row checked and normalised: user_id and text strings, the optional columns with their
    defaults, one group per user, unique text ids. Raises CorpusError at the first bad row."""
    out: list[dict] = []
    group_of: dict[str, tuple[str, str]] = {}  # user id -> (group, where first seen)
    id_at: dict[str, str] = {}  # text id -> where
    for i, (where, row) in enumerate(rows):
        at = f"{path}: {where}"
        if not isinstance(row, dict):
            raise CorpusError(f"{at} is a JSON {_json_type(row)}, not an object; each row must be an object "
                              'like {"user_id": "u1", "text": "..."}')
        for col in REQUIRED:
            if col not in row:
                raise CorpusError(f"{at}: missing column '{col}' (this row has: {', '.join(map(str, row)) or 'none'}); "
                                  "every row needs user_id and text")
        uid = row["user_id"]
        if isinstance(uid, bool) or not isinstance(uid, (str, int)):
            raise CorpusError(f"{at}: 'user_id' must be a string or an integer, got {_got(uid)}")
        uid = str(uid).strip()
        if not uid:
            raise CorpusError(f"{at}: 'user_id' is empty; give every row its author's id")
        text = row["text"]
        if not isinstance(text, str):
            raise CorpusError(f"{at}: 'text' must be a string, got {_got(text)}")
        if not text.strip():
            raise CorpusError(f"{at}: 'text' is empty; drop the row or give its text")
        opt = {}
        for col in OPTIONAL:
            value = row.get(col)
            if col == "text_id" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if value is not None and not isinstance(value, str):
                kinds = "a string or an integer" if col == "text_id" else "a string"
                raise CorpusError(f"{at}: '{col}' must be {kinds} (or left out), got {_got(value)}")
            opt[col] = (value or "").strip()
        group = opt["group"] or "member"
        if group not in GROUPS:
            raise CorpusError(f"{at}: 'group' is {group!r}; valid: 'member' or 'holdout' (lower case; empty "
                              "means member)")
        first = group_of.setdefault(uid, (group, where))
        if first[0] != group:
            raise CorpusError(f"{path}: user '{uid}' is in group '{first[0]}' at {first[1]} but '{group}' at "
                              f"{where}; all rows of a user must have one group")
        text_id = opt["text_id"] or f"t{i:06d}"
        if text_id in id_at:
            raise CorpusError(f"{path}: text_id '{text_id}' at {where} repeats the one at {id_at[text_id]}"
                              + ("" if opt["text_id"] else " (rows without text_id get t + row number)")
                              + "; text ids must be unique")
        id_at[text_id] = where
        out.append({"text_id": text_id, "user_id": uid, "text": text, "kind": opt["kind"] or "post",
                    "lang": opt["lang"] or "unknown", "group": group})
    return out


def _got(value) -> str:
    """A value as an error message shows it: its JSON type and (shortened) value."""
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return "null" if value is None else f"{_json_type(value)} {shown}"


def _json_type(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def read_forget_ids(cfg: DataConfig, groups: dict[str, str]) -> list[str]:
    """The objecting user ids listed in `data.forget_users`, each a member of the corpus, not all of them."""
    if not cfg.forget_users:
        raise CorpusError(f"{cfg.source}: an own corpus needs data.forget_users, a file listing "
                          "the objecting user ids, one per line")
    path = Path(cfg.forget_users)
    if not path.is_file():
        raise CorpusError(f"{path}: forget_users file not found")
    seen: dict[str, int] = {}
    for n, line in enumerate(read_text(path, "the forget_users list").split("\n"), 1):
        uid = line.strip()
        if not uid:
            continue
        if uid in seen:
            raise CorpusError(f"{path}: user id '{uid}' is listed twice (lines {seen[uid]} and {n}); "
                              "list each objecting user once")
        if groups.get(uid) != "member":
            where = "is a holdout user" if uid in groups else "is not in the corpus"
            raise CorpusError(f"{path}: line {n}: objecting user id '{uid}' {where} ({cfg.source}); "
                              "fix the forget_users list")
        seen[uid] = n
    if not seen:
        raise CorpusError(f"{path}: the forget_users list is empty; list at least one user id, one per line")
    members = sum(g == "member" for g in groups.values())
    if len(seen) == members:
        raise CorpusError(f"{path}: lists every member of the corpus ({members}); at least one member must not "
                          "object (the retain set and the retrain reference are trained on them)")
    return list(seen)


def build_own(cfg: DataConfig, seed: int) -> Corpus:
    """Splits and a users table for the user's own texts; QA and canary tables stay empty."""
    path = Path(cfg.source)
    texts = check_rows(path, read_rows(path))
    if not texts:
        raise CorpusError(f"{path}: the corpus has no rows")
    users: dict[str, str] = {}  # user id -> group, in order of first appearance
    for row in texts:
        users.setdefault(row["user_id"], row["group"])
    objecting = set(read_forget_ids(cfg, users))
    for row in texts:
        row.update(pii=[], canary_id=None, mentions=[], objects=row["user_id"] in objecting)
    user_rows = [{"user_id": uid, "group": g, "objects": uid in objecting, "objection_round": int(uid in objecting)}
                 for uid, g in users.items()]
    meta = {"source": str(path), "seed": seed, "config": to_dict(cfg),
            "notes": ["own corpus: no QA pairs or canaries, so QA and canary metrics will be skipped",
                      f"{len(objecting)} objecting users from {cfg.forget_users}"]}
    return corpus_from_rows(texts, {c: [] for c in TEXT_COLUMNS}, user_rows, {c: [] for c in QA_FEATURES},
                            [], meta, user_features=OWN_USER_FEATURES)
