"""Integrity of the synthetic corpus and of own-corpus loading (small corpora, seconds)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from unlearn.config import DataConfig
from unlearn.corpus import CorpusError, build_corpus, candidates, load_corpus, save_corpus, summary
from unlearn.corpus.people import LANG_DEPENDENT

CFG = DataConfig(n_users=60, forget_fraction=0.2, objection_rounds=3)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(CFG, seed=0)


def rows(ds):
    return ds.to_list()


def by_user(texts):
    out: dict[str, str] = {}
    for r in texts:
        out[r["user_id"]] = out.get(r["user_id"], "") + "\n" + r["text"]
    return out


def test_holdout_never_reaches_train(corpus):
    users = rows(corpus.tables["users"])
    holdout = {u["user_id"] for u in users if u["group"] == "holdout"}
    assert holdout and len(holdout) < len(users)
    train = rows(corpus.texts["train"])
    assert not holdout & {r["user_id"] for r in train}
    assert not holdout & {s["subject"] for r in train for s in r["pii"]}
    assert not holdout & {m for r in train for m in r["mentions"]}
    blob = "\n".join(r["text"] for r in train)
    for u in users:
        if u["group"] == "holdout":
            assert u["phone"] not in blob and u["email"] not in blob
    assert {r["user_id"] for r in rows(corpus.texts["holdout"])} <= holdout


def test_forget_retain_partition_train(corpus):
    ids = {s: set(corpus.texts[s]["text_id"]) for s in ("train", "retain", "forget")}
    assert ids["forget"] and ids["retain"]
    assert not ids["forget"] & ids["retain"]
    assert ids["forget"] | ids["retain"] == ids["train"]
    assert len(ids["train"]) == len(corpus.texts["train"])  # text ids unique
    objecting = {u["user_id"] for u in rows(corpus.tables["users"]) if u["objects"]}
    assert set(corpus.texts["forget"]["user_id"]) == objecting
    assert not set(corpus.texts["retain"]["user_id"]) & objecting  # comments included: every text they wrote
    assert "comment" in set(corpus.texts["forget"]["kind"])


def test_canaries_planted_exactly_r_times(corpus):
    canaries = rows(corpus.tables["canaries"])
    users = {u["user_id"]: u for u in rows(corpus.tables["users"])}
    train, holdout = rows(corpus.texts["train"]), rows(corpus.texts["holdout"])
    everything = [r for s in corpus.texts.values() for r in rows(s)]
    assert len({c["secret"] for c in canaries}) == len(canaries)
    for c in canaries:
        needle = c["prefix"] + c["secret"]
        if c["planted"]:
            hits = [r for r in train if needle in r["text"]]
            assert len(hits) == c["insertions"] > 0
            assert all(r["text"].endswith(needle) and r["canary_id"] == c["canary_id"]
                       and r["user_id"] == c["user_id"] for r in hits)
            assert sum(r["canary_id"] == c["canary_id"] for r in train) == c["insertions"]
            assert not any(c["secret"] in r["text"] for r in holdout)
        else:
            assert c["insertions"] == 0 and c["user_id"] == ""
            assert not any(c["secret"] in r["text"] for r in everything)
    sides = Counter((c["insertions"], users[c["user_id"]]["objects"]) for c in canaries if c["planted"])
    for r in CFG.canary_insertions:
        assert sides[(r, True)] == sides[(r, False)] == CFG.canaries_per_insertion
    assert sum(not c["planted"] for c in canaries) == CFG.reference_canaries


def test_member_answers_stated_in_own_train_texts(corpus):
    users = {u["user_id"]: u for u in rows(corpus.tables["users"])}
    own = by_user([r for r in rows(corpus.texts["train"]) if r["kind"] != "qa"])
    stated_somewhere = set()
    for q in rows(corpus.tables["qa"]):
        u = users[q["user_id"]]
        if u["group"] != "member":
            continue
        found = q["answer"] in own[q["user_id"]]
        assert found == q["stated"], q["qa_id"]
        if q["attribute"] not in LANG_DEPENDENT or q["lang"] == u["lang"]:
            assert found, q["qa_id"]
        stated_somewhere.add((q["user_id"], q["attribute"]))
    assert len(stated_somewhere) == 10 * sum(u["group"] == "member" for u in users.values())


def test_qa_covers_phrasings_languages_and_third_party(corpus):
    qa = rows(corpus.tables["qa"])
    per_fact = Counter((q["user_id"], q["attribute"]) for q in qa)
    assert set(per_fact.values()) == {3 * len(CFG.languages)}
    assert {q["lang"] for q in qa} == set(CFG.languages)
    retain = [r for r in rows(corpus.texts["retain"])]
    third = [q for q in qa if q["third_party"]]
    assert third
    for q in third:  # the fact lives on in another member's retain text
        assert any(s["subject"] == q["user_id"] and s["type"] == q["attribute"] and r["user_id"] != q["user_id"]
                   for r in retain for s in r["pii"])
    assert all(q["answer"] in q["paraphrased_answer"] for q in qa)


def test_qa_training_set_holds_only_non_objecting_members(corpus):
    users = rows(corpus.tables["users"])
    trained = {u["user_id"] for u in users if u["qa_train"]}
    others = [u for u in users if u["group"] == "member" and not u["objects"]]
    assert trained and len(trained) == round(CFG.qa_train_users * len(others))
    assert trained <= {u["user_id"] for u in others}  # never an objecting or a holdout user
    qa_texts = {s: [r for r in rows(corpus.texts[s]) if r["kind"] == "qa"] for s in ("train", "retain", "forget", "holdout")}
    assert not qa_texts["forget"] and not qa_texts["holdout"]
    assert {r["user_id"] for r in qa_texts["train"]} == trained == {r["user_id"] for r in qa_texts["retain"]}
    # every question about a QA-trained user in the trained phrasings, with its answer sentence, in the plain template
    pairs = {(q["question"], q["paraphrased_answer"]) for q in rows(corpus.tables["qa"])
             if q["user_id"] in trained and q["phrasing"] < CFG.qa_train_phrasings}
    assert {tuple(r["text"][3:].split("\nA: ")) for r in qa_texts["train"]} == pairs
    names = {u["name"] for u in users if u["user_id"] not in trained}
    assert not any(n in r["text"] for r in qa_texts["train"] for n in names)  # nobody else is asked about


def test_facts_are_mentioned_as_drawn(corpus):
    users = {u["user_id"]: u for u in rows(corpus.tables["users"])}
    mentions = {(q["user_id"], q["attribute"]): q["mentions"] for q in rows(corpus.tables["qa"])}
    lo, hi = CFG.fact_mentions
    assert {m for m in mentions.values()} == set(range(lo, hi + 1))
    texts = [r for s in ("train", "holdout") for r in rows(corpus.texts[s]) if r["kind"] in ("bio", "post")]
    stating = Counter((r["user_id"], s["type"]) for r in texts for s in {(x["type"], x["subject"]): x for x in r["pii"]}.values()
                      if s["subject"] == r["user_id"] and not r["canary_id"])
    for (user, attribute), n in mentions.items():
        if attribute != "city":  # every address states the city too
            assert stating[(user, attribute)] == n, (user, attribute)
    for user, u in users.items():  # the profile: each fact once, in the third person with the full name
        profile = [r for r in texts if r["user_id"] == user and r["kind"] == "bio"]
        assert sum(len([s for s in r["pii"] if s["type"] == "phone"]) for r in profile) == 1
        assert all(r["text"].count(u["name"]) >= 2 for r in profile)  # the header and a statement


FORMAT = {"phone": lambda v: re.sub(r"\d", "d", v),
          "street_address": lambda v: re.sub(r"\d+", "N", re.sub(r"[^\d ]+", "w", v)).split()[0],
          "email": lambda v: bool(re.fullmatch(r"[\w.]+@[\w.-]+\.\w+", v)),
          "birthday": lambda v: re.sub(r"\d", "d", re.sub(r"[A-Za-zä]+", "M", v))}


def test_perturbed_answers_wrong_and_same_format(corpus):
    for q in rows(corpus.tables["qa"]):
        wrong = q["perturbed_answers"]
        assert len(wrong) >= 3 and len(set(wrong)) == len(wrong) and q["answer"] not in wrong
        shape = FORMAT.get(q["attribute"])
        if shape and q["attribute"] != "birthday":
            assert all(shape(w) == shape(q["answer"]) for w in wrong), q["qa_id"]
        elif shape:  # day and year digits may differ in count ("4." vs "14."), the layout not
            assert all(shape(w).replace("dd", "d") == shape(q["answer"]).replace("dd", "d") for w in wrong)


def test_pii_spans_match_text(corpus):
    n = 0
    users = {u["user_id"]: u for u in rows(corpus.tables["users"])}
    for split in corpus.texts.values():
        for r in rows(split):
            for s in r["pii"]:
                assert r["text"][s["start"]:s["end"]] == s["value"]
                if s["type"] in ("phone", "email", "street_address", "city"):
                    assert users[s["subject"]][s["type"]] == s["value"]
                n += 1
    assert n > 1000


def test_comments_stay_within_group(corpus):
    group = {u["user_id"]: u["group"] for u in rows(corpus.tables["users"])}
    comments = [r for s in ("train", "holdout") for r in rows(corpus.texts[s]) if r["kind"] == "comment"]
    assert comments
    for r in comments:
        assert r["mentions"] and all(group[m] == group[r["user_id"]] for m in r["mentions"])
        assert all(s["subject"] in r["mentions"] for s in r["pii"] if s["subject"] != r["user_id"])
    assert any(s["subject"] != r["user_id"] for r in comments for s in r["pii"])  # facts about others


def hash_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical_and_roundtrip(corpus, tmp_path):
    save_corpus(corpus, tmp_path / "a")
    save_corpus(build_corpus(CFG, seed=0), tmp_path / "b")
    a, b = hash_tree(tmp_path / "a"), hash_tree(tmp_path / "b")
    assert len(a) > 10 and a == b
    save_corpus(corpus, tmp_path / "a")  # overwriting works and leaves no temp folders
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    loaded = load_corpus(tmp_path / "a")
    assert loaded.texts["train"]["text"] == corpus.texts["train"]["text"]
    assert json.loads(json.dumps(loaded.meta)) == loaded.meta and loaded.meta["seed"] == 0
    assert "objecting" in summary(loaded)


def test_different_seed_different_users(corpus):
    other = build_corpus(CFG, seed=1)
    assert other.tables["users"]["name"] != corpus.tables["users"]["name"]
    assert other.tables["users"]["phone"] != corpus.tables["users"]["phone"]


def test_objection_rounds_and_selection(corpus):
    users = rows(corpus.tables["users"])
    rounds = {u["objection_round"] for u in users if u["objects"]}
    assert rounds == {1, 2, 3}
    assert all(u["objection_round"] == 0 for u in users if not u["objects"])
    assert all(u["group"] == "member" for u in users if u["objects"])
    active = build_corpus(dataclasses.replace(CFG, objector_selection="most_active"), seed=0)
    posts = Counter(r["user_id"] for r in rows(active.texts["train"]) if r["canary_id"] is None and r["kind"] != "qa")
    obj = {u["user_id"] for u in rows(active.tables["users"]) if u["objects"]}
    assert min(posts[u] for u in obj) >= max(n for u, n in posts.items() if u not in obj)
    held = build_corpus(dataclasses.replace(CFG, objector_selection="canary_holders"), seed=0)
    obj = {u["user_id"] for u in rows(held.tables["users"]) if u["objects"]}
    assert obj <= set(held.tables["canaries"]["user_id"])


def test_candidates_space(corpus):
    size, it = candidates("d-d-d-d")
    every = list(it)
    assert size == len(every) == 10_000 and len(set(every)) == size and every[0] == "0-0-0-0"
    planted = [c["secret"] for c in rows(corpus.tables["canaries"]) if c["format"] == "d-d-d-d" and c["planted"]]
    assert planted and set(planted) <= set(every)
    assert candidates("dddddd")[0] == 10 ** 6 and next(candidates("dddddd")[1]) == "000000"


# ----------------------------------------------------------------------------- own corpus

OWN = [{"user_id": "a", "text": "hello from a"}, {"user_id": "b", "text": "b says hi", "lang": "en"},
       {"user_id": "a", "text": "a again"}, {"user_id": "c", "text": "c is new here"}]


def own_files(tmp_path, forget="a\n"):
    jsonl = tmp_path / "own.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in OWN))
    csv = tmp_path / "own.csv"
    csv.write_text("user_id,text,group\n" + "".join(f"{r['user_id']},{r['text']},{'holdout' if r['user_id'] == 'c' else ''}\n"
                                                   for r in OWN))
    forget_file = tmp_path / "forget.txt"
    forget_file.write_text(forget)
    return jsonl, csv, forget_file


def test_own_corpus_jsonl_and_csv(tmp_path):
    jsonl, csv, forget = own_files(tmp_path)
    c = build_corpus(DataConfig(source=str(jsonl), forget_users=str(forget)), seed=0)
    assert c.texts["forget"]["text"] == ["hello from a", "a again"]
    assert c.texts["retain"]["user_id"] == ["b", "c"] and len(c.texts["train"]) == 4
    assert c.texts["train"]["lang"] == ["unknown", "en", "unknown", "unknown"]
    assert len(c.tables["qa"]) == 0 and "question" in c.tables["qa"].column_names
    assert any("skipped" in n for n in c.meta["notes"])
    c = build_corpus(DataConfig(source=str(csv), forget_users=str(forget)), seed=0)
    assert c.texts["holdout"]["user_id"] == ["c"] and c.texts["retain"]["user_id"] == ["b"]
    users = {u["user_id"]: u for u in rows(c.tables["users"])}
    assert users["a"]["objects"] and users["a"]["objection_round"] == 1 and users["c"]["group"] == "holdout"
    save_corpus(c, tmp_path / "saved")
    assert load_corpus(tmp_path / "saved").texts["forget"]["text"] == ["hello from a", "a again"]


@pytest.mark.parametrize("case, needle", [("column", "'text'"), ("unknown", "'zed'"), ("empty", "empty"),
                                          ("missing", "nope.jsonl"), ("no_list", "forget_users")])
def test_own_corpus_errors(tmp_path, case, needle):
    jsonl, _, forget = own_files(tmp_path, forget="zed\n" if case == "unknown" else "" if case == "empty" else "a\n")
    if case == "column":
        jsonl.write_text(json.dumps({"user_id": "a", "body": "x"}) + "\n")
    source = tmp_path / "nope.jsonl" if case == "missing" else jsonl
    cfg = DataConfig(source=str(source), forget_users=None if case == "no_list" else str(forget))
    with pytest.raises(CorpusError, match=re.escape(needle)):
        build_corpus(cfg, seed=0)


def test_own_corpus_rows_are_normalised_and_ids_may_be_integers(tmp_path):
    """Integer user and text ids become strings, a BOM is dropped, empty optional columns take
    their defaults, and `group: member` is the same as none."""
    rows = [{"user_id": 1, "text": "one", "text_id": 7}, {"user_id": "2", "text": "two", "group": "member", "lang": ""},
            {"user_id": 3, "text": "three", "group": "holdout", "kind": "comment"}]
    path = tmp_path / "own.jsonl"
    path.write_text("\ufeff" + "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "forget.txt").write_text("1\n")
    c = build_corpus(DataConfig(source=str(path), forget_users=str(tmp_path / "forget.txt")), seed=0)
    assert c.texts["forget"]["text_id"] == ["7"] and c.texts["forget"]["user_id"] == ["1"]
    assert c.texts["retain"].to_list()[0] | {"pii": [], "mentions": []} == {
        "text_id": "t000001", "user_id": "2", "text": "two", "kind": "post", "lang": "unknown", "pii": [],
        "canary_id": None, "mentions": []}
    assert c.texts["holdout"]["kind"] == ["comment"]


def test_own_corpus_errors_name_the_row_as_the_user_sees_it(tmp_path):
    """CSV: the line a row ends on, header = line 1 (a quoted text may span lines); a datasets
    folder: the row index."""
    (tmp_path / "forget.txt").write_text("a\n")
    csv_path = tmp_path / "own.csv"
    csv_path.write_text('user_id,text\na,"two\nlines"\n\nb,ok\nc,"x"\n,orphan\n')
    cfg = DataConfig(source=str(csv_path), forget_users=str(tmp_path / "forget.txt"))
    with pytest.raises(CorpusError, match=r"own\.csv: line 7: 'user_id' is empty"):
        build_corpus(cfg, seed=0)
    import datasets

    folder = tmp_path / "ds"
    datasets.Dataset.from_list([{"user_id": "a", "text": "x"}, {"user_id": "b", "text": None}]).save_to_disk(str(folder))
    with pytest.raises(CorpusError, match=r"ds: row 1: 'text' must be a string, got null"):
        build_corpus(DataConfig(source=str(folder), forget_users=str(tmp_path / "forget.txt")), seed=0)


def test_a_bad_own_row_anywhere_stops_the_build(tmp_path):
    """Every row is checked, not only the first: the same defect at the first, a middle and the last row."""
    (tmp_path / "forget.txt").write_text("a\n")
    for at in (0, 2, len(OWN)):
        rows = [json.dumps(r) for r in OWN]
        rows.insert(at, json.dumps({"user_id": "z", "text": None}))
        path = tmp_path / "own.jsonl"
        path.write_text("\n".join(rows) + "\n")
        with pytest.raises(CorpusError, match=rf"own\.jsonl: line {at + 1}: 'text' must be a string"):
            build_corpus(DataConfig(source=str(path), forget_users=str(tmp_path / "forget.txt")), seed=0)
