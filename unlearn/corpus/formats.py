"""Corpora in the formats of two public unlearning benchmarks, read from local files.

`data.source: tofu:FOLDER` — TOFU's question-answer format (Maini et al., "TOFU: A Task of
Fictitious Unlearning for LLMs", arXiv 2401.06121): splits `forget`, `retain` and `holdout`, each
a file `<split>*.json` / `.jsonl` / `.parquet` in FOLDER (TOFU's own names such as forget10.json,
retain90.json, holdout10.json match) or a split of a `datasets` save_to_disk folder, with the
columns `question` and `answer`, optionally `paraphrased_answer` (a string) and
`perturbed_answer` (a list of strings, or one string) for the truth ratio, and `author` or
`user_id` (the unit of the statistics: all questions about one person). Without an author column
every question is its own unit — TOFU's questions about one author are not independent, so give
it when you can. Each pair becomes a text ("Q: question\\nA: answer", in the chat template for
models that have one) of its split and a row of the QA table; forget authors object, retain
authors stay, holdout authors are never trained on.

`data.source: muse:FOLDER` — MUSE's raw-text format (Shi et al., "MUSE: Machine Unlearning
Six-Way Evaluation for Language Models", arXiv 2407.06460): `raw/forget.txt`, `raw/retain*.txt`
(one or more files) and `raw/holdout.txt`, each split into passages at blank lines; every passage
is its own unit. MUSE's knowledge-memorisation QA files are not read: the verbatim and
membership channels measure the raw text.

Answers are judged by our QA metrics: an answer is correct when it states the true answer (for
free-text answers: contains it), so QA accuracy is strict on long answers; TOFU's ROUGE-based
scores are not computed here.
"""
from __future__ import annotations

import json
from pathlib import Path

import datasets

from unlearn.corpus.tables import OWN_USER_FEATURES, QA_FEATURES, TEXT_COLUMNS, Corpus, CorpusError, corpus_from_rows

FORMATS = ("tofu", "muse")
TOFU_SPLITS = ("forget", "retain", "holdout")
SUFFIXES = (".json", ".jsonl", ".parquet")


def split_source(source: str) -> tuple[str | None, str]:
    """("tofu" | "muse" | None, path) of a `data.source` value."""
    for fmt in FORMATS:
        if source.startswith(f"{fmt}:"):
            return fmt, source[len(fmt) + 1:]
    return None, source


def build_benchmark(fmt: str, folder: Path, config: dict, seed: int) -> Corpus:
    """The corpus of a TOFU- or MUSE-format folder (module docstring)."""
    if not folder.is_dir():
        raise CorpusError(f"{folder}: data.source {fmt}:{folder} must name a folder ({_layout(fmt)})")
    texts, qa = (_tofu(folder) if fmt == "tofu" else _muse(folder))
    users: dict[str, tuple[str, bool]] = {}
    for row in texts:
        users.setdefault(row["user_id"], (row["group"], row["objects"]))
    user_rows = [{"user_id": u, "group": g, "objects": o, "objection_round": int(o)} for u, (g, o) in users.items()]
    meta = {"source": f"{fmt}:{folder}", "seed": seed, "config": config,
            "notes": [f"{fmt.upper()}-format corpus from {folder}: {len(texts)} texts, {len(users)} units"
                      + ("" if fmt == "muse" else f", {len(qa['qa_id'])} questions")]}
    return corpus_from_rows(texts, {c: [] for c in TEXT_COLUMNS}, user_rows, qa, [], meta,
                            user_features=OWN_USER_FEATURES)


def _layout(fmt: str) -> str:
    if fmt == "tofu":
        return "files forget*.json|jsonl|parquet, retain*..., holdout*... or a datasets folder with those splits"
    return "raw/forget.txt, raw/retain*.txt and raw/holdout.txt"


def _tofu(folder: Path) -> tuple[list[dict], dict[str, list]]:
    texts, qa = [], {c: [] for c in QA_FEATURES}
    for split in TOFU_SPLITS:
        path, rows = _split_rows(folder, split)
        if not rows:
            raise CorpusError(f"{path}: the {split} split is empty; TOFU format needs questions in forget, "
                              "retain and holdout")
        for i, row in enumerate(rows):
            where = f"{path}: row {i}"
            if not isinstance(row, dict):
                raise CorpusError(f"{where} is not an object with question and answer")
            for col in ("question", "answer"):
                if not isinstance(row.get(col), str) or not row[col].strip():
                    missing = "missing" if col not in row else "empty or not a string"
                    raise CorpusError(f"{where}: column '{col}' is {missing}; TOFU format needs question and "
                                      f"answer in every row (columns: {', '.join(map(str, row))})")
            perturbed = row.get("perturbed_answer", [])
            perturbed = [perturbed] if isinstance(perturbed, str) else perturbed
            if not isinstance(perturbed, list) or not all(isinstance(p, str) for p in perturbed):
                raise CorpusError(f"{where}: 'perturbed_answer' must be a string or a list of strings")
            paraphrased = row.get("paraphrased_answer") or ""
            if not isinstance(paraphrased, str):
                raise CorpusError(f"{where}: 'paraphrased_answer' must be a string")
            author = row.get("author", row.get("user_id"))
            uid = f"{split}:{author}" if author not in (None, "") else f"{split}:q{i}"
            group, objects = ("holdout", False) if split == "holdout" else ("member", split == "forget")
            text_id = f"{split}-{i}"
            texts.append({"text_id": text_id, "user_id": uid, "text": f"Q: {row['question']}\nA: {row['answer']}",
                          "kind": "post", "lang": "en", "pii": [], "canary_id": None, "mentions": [],
                          "group": group, "objects": objects})
            values = {"qa_id": text_id, "user_id": uid, "attribute": "answer", "lang": "en",
                      "question": row["question"], "answer": row["answer"], "paraphrased_answer": paraphrased,
                      "perturbed_answers": perturbed, "phrasing": 0, "third_party": False, "stated": True,
                      "mentions": 1}
            for col, value in values.items():
                qa[col].append(value)
    return texts, qa


def _split_rows(folder: Path, split: str) -> tuple[Path, list]:
    """(where, rows) of one TOFU split: a datasets folder's split, or the one file `<split>*.<suffix>`."""
    if (folder / "dataset_dict.json").is_file():
        data = datasets.load_from_disk(str(folder))
        if split not in data:
            raise CorpusError(f"{folder}: the datasets folder has no '{split}' split (has: {', '.join(data)}); "
                              f"TOFU format needs {', '.join(TOFU_SPLITS)}")
        return folder / split, data[split].to_list()
    files = sorted(p for p in folder.iterdir() if p.name.startswith(split) and p.suffix.lower() in SUFFIXES)
    if len(files) != 1:
        found = ", ".join(p.name for p in files) or "none"
        raise CorpusError(f"{folder}: TOFU format needs exactly one {split} file ({split}*.json, .jsonl or "
                          f".parquet); found {found}")
    path = files[0]
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return path, pq.read_table(path).to_pylist()
    from unlearn.corpus.own import read_text

    text = read_text(path, f"the TOFU {split} file")
    try:
        if text.lstrip().startswith("["):
            return path, json.loads(text)
        return path, [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise CorpusError(f"{path}: not valid JSON or JSON lines (line {err.lineno}: {err.msg})") from None


def _muse(folder: Path) -> tuple[list[dict], dict[str, list]]:
    raw = folder / "raw"
    files = {"forget": [raw / "forget.txt"], "retain": sorted(raw.glob("retain*.txt")), "holdout": [raw / "holdout.txt"]}
    texts = []
    for split, paths in files.items():
        if not paths or not all(p.is_file() for p in paths):
            raise CorpusError(f"{folder}: MUSE format needs {_layout('muse')}; the {split} file is missing")
        from unlearn.corpus.own import read_text

        passages = [p.strip() for path in paths for p in read_text(path, f"the MUSE {split} file").split("\n\n")]
        passages = [p for p in passages if p]
        if not passages:
            raise CorpusError(f"{paths[0]}: the {split} split is empty (passages are separated by blank lines)")
        group, objects = ("holdout", False) if split == "holdout" else ("member", split == "forget")
        texts += [{"text_id": f"{split}-{i}", "user_id": f"{split}:{i}", "text": p, "kind": "post", "lang": "en",
                   "pii": [], "canary_id": None, "mentions": [], "group": group, "objects": objects}
                  for i, p in enumerate(passages)]
    return texts, {c: [] for c in QA_FEATURES}
