"""The `Corpus` container, the schema of every table, and deterministic Dataset construction.

`datasets` gives a Dataset built with `from_dict` a random fingerprint, which ends up in
state.json; here each Dataset's fingerprint is the hash of its Arrow content instead, so the
same corpus saves to byte-identical files.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import datasets
import pyarrow as pa
from datasets import Features, Sequence, Value

SPLITS = ("train", "retain", "forget", "holdout", "general")


class CorpusError(ValueError):
    """Bad own-corpus input or corpus settings; the message names the file/column/id and the fix."""


@dataclass
class Corpus:
    """Texts per split, the users/qa/canaries tables, and JSON-able provenance."""

    texts: datasets.DatasetDict  # train, retain, forget, holdout, general
    tables: datasets.DatasetDict  # users, qa, canaries
    meta: dict  # {"source", "seed", "config", "notes"}


PII = {"type": Value("string"), "value": Value("string"), "start": Value("int32"),
       "end": Value("int32"), "subject": Value("string")}
TEXT_FEATURES = Features({
    "text_id": Value("string"), "user_id": Value("string"), "text": Value("string"),
    "kind": Value("string"), "lang": Value("string"), "pii": [PII],
    "canary_id": Value("string"), "mentions": Sequence(Value("string")),
})
TEXT_COLUMNS = tuple(TEXT_FEATURES)
USER_FEATURES = Features({
    "user_id": Value("string"), "name": Value("string"), "handle": Value("string"),
    "lang": Value("string"), "langs": Sequence(Value("string")), "city": Value("string"),
    "street_address": Value("string"), "phone": Value("string"), "email": Value("string"),
    "birthday": Value("string"), "employer": Value("string"), "job": Value("string"),
    "partner": Value("string"), "pet_species": Value("string"), "pet_name": Value("string"),
    "health": Value("string"), "interests": Sequence(Value("string")), "group": Value("string"),
    "objects": Value("bool"), "objection_round": Value("int32"), "qa_train": Value("bool"),
})
OWN_USER_FEATURES = Features({k: USER_FEATURES[k] for k in ("user_id", "group", "objects", "objection_round")})
QA_FEATURES = Features({
    "qa_id": Value("string"), "user_id": Value("string"), "attribute": Value("string"),
    "lang": Value("string"), "question": Value("string"), "answer": Value("string"),
    "paraphrased_answer": Value("string"), "perturbed_answers": Sequence(Value("string")),
    "phrasing": Value("int32"), "third_party": Value("bool"), "stated": Value("bool"),
    "mentions": Value("int32"),
})
CANARY_FEATURES = Features({
    "canary_id": Value("string"), "user_id": Value("string"), "lang": Value("string"),
    "format": Value("string"), "prefix": Value("string"), "secret": Value("string"),
    "insertions": Value("int32"), "planted": Value("bool"),
})


def make_dataset(columns: dict[str, list], features: Features) -> datasets.Dataset:
    """One Dataset from column lists, fingerprinted by a hash of its Arrow content."""
    table = pa.Table.from_pydict({k: columns[k] for k in features}, schema=features.arrow_schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    fingerprint = hashlib.sha256(sink.getvalue()).hexdigest()[:16]
    return datasets.Dataset(datasets.table.InMemoryTable(table),
                            info=datasets.DatasetInfo(features=features), fingerprint=fingerprint)


def columns_of(rows: list[dict], names) -> dict[str, list]:
    """Row dicts -> column lists (only `names`)."""
    return {name: [row[name] for row in rows] for name in names}


def split_texts(rows: list[dict]) -> dict[str, list[dict]]:
    """train = members' texts; forget = objecting members'; retain = the rest; holdout apart."""
    out: dict[str, list[dict]] = {"train": [], "retain": [], "forget": [], "holdout": []}
    for row in rows:
        if row["group"] == "holdout":
            out["holdout"].append(row)
        else:
            out["train"].append(row)
            out["forget" if row["objects"] else "retain"].append(row)
    return out


def corpus_from_rows(texts: list[dict], general: dict[str, list], users: list[dict], qa: dict[str, list],
                     canaries: list[dict], meta: dict, user_features: Features = USER_FEATURES) -> Corpus:
    """Assemble a Corpus from text rows (with `group` and `objects`), tables and provenance."""
    splits = {name: make_dataset(columns_of(rows, TEXT_COLUMNS), TEXT_FEATURES)
              for name, rows in split_texts(texts).items()}
    splits["general"] = make_dataset(general, TEXT_FEATURES)
    tables = {"users": make_dataset(columns_of(users, user_features), user_features),
              "qa": make_dataset(qa, QA_FEATURES),
              "canaries": make_dataset(columns_of(canaries, CANARY_FEATURES), CANARY_FEATURES)}
    return Corpus(datasets.DatasetDict({k: splits[k] for k in SPLITS}), datasets.DatasetDict(tables), meta)
