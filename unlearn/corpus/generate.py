"""The synthetic social network: users, their posts, bios and comments, splits and canaries.

Everything flows from one `random.Random(seed)`, so the same config and seed give the same
corpus. Rows are built as plain Python lists and turned into Datasets once, at the end.
"""
from __future__ import annotations

import random
import re

from unlearn.config import DataConfig, to_dict
from unlearn.corpus import templates as T
from unlearn.corpus.canary import canary_body, plan_canaries
from unlearn.corpus.people import LANGUAGES, make_users, render_facts
from unlearn.corpus.qa import build_qa
from unlearn.corpus.tables import TEXT_COLUMNS, Corpus, CorpusError, corpus_from_rows

_PART = re.compile(r"\{(\w+)\}")
_PARSED: dict[str, list[str]] = {}
HEADER = "{name} (@{handle}): "
_NOT_PII = {"handle", "first", "interest2"}  # mentions are tracked separately; first name is in name


def render(template: str, values: dict, subject: str, offset: int) -> tuple[str, list[dict]]:
    """Fill `template`; return the text and a pii span per filled placeholder (offset-shifted)."""
    parts = _PARSED.get(template)
    if parts is None:  # cache the split: templates are reused thousands of times
        parts = _PARSED[template] = _PART.split(template)
    out, spans, pos = [], [], offset
    for i, part in enumerate(parts):
        if i % 2:  # odd entries are placeholder names
            value = values[part]
            if part not in _NOT_PII:
                kind = "interest" if part.startswith("interest") else part
                spans.append({"type": kind, "value": value, "start": pos, "end": pos + len(value),
                              "subject": subject})
            part = value
        out.append(part)
        pos += len(part)
    return "".join(out), spans


# Part of the corpus stage's key: bump when the same config and seed would give other texts or
# splits. 2: objecting users' comments belong to the forget split (version 1 left them in retain).
# 3: fact_mentions per fact (was fact_repeats), facts_per_text, the QA instruction texts.
GENERATOR_VERSION = 3


def build_synthetic(cfg: DataConfig, seed: int) -> Corpus:
    """Generate the whole synthetic corpus for `cfg` and `seed`."""
    bad = [lang for lang in cfg.languages if lang not in LANGUAGES]
    if bad or not cfg.languages:
        raise CorpusError(f"data.languages: unsupported {bad or 'empty list'} (built-in: {', '.join(LANGUAGES)})")
    rng = random.Random(seed)
    notes: list[str] = []
    users = make_users(rng, cfg.n_users, tuple(cfg.languages), cfg.bilingual_fraction)
    n_hold = holdout_count(cfg.n_users, cfg.holdout_fraction)
    holdout_ids = {u["user_id"] for u in rng.sample(users, n_hold)}
    for u in users:
        u["group"] = "holdout" if u["user_id"] in holdout_ids else "member"
        u["facts"] = {lang: render_facts(u, lang) for lang in LANGUAGES}
        u["n_posts"] = rng.randint(max(1, round(cfg.posts_per_user * 0.67)), max(1, round(cfg.posts_per_user * 1.33)))
        u["mentions"] = {f: rng.randint(*cfg.fact_mentions) for f in T.FACTS}
        u["n_chat"], u["n_fact_posts"] = post_counts(cfg, u)
        u["n_posts"] = u["n_chat"] + u["n_fact_posts"]  # the posts written: more where facts need them
        u["objects"], u["objection_round"] = False, 0
    comments = make_comments(rng, cfg, users)
    members = [u for u in users if u["group"] == "member"]
    objectors = select_objectors(rng, cfg, members, notes)
    objects = {u["user_id"]: u["objects"] for u in users}
    for row in comments:  # written before the objections were drawn: an objector's comments are theirs too
        row["objects"] = objects[row["user_id"]]
    others = [u for u in members if not u["objects"]]
    canaries = plan_canaries(rng, cfg, objectors, others, tuple(cfg.languages),
                             spread=cfg.objector_selection == "canary_holders")
    if not others and cfg.canary_insertions:
        notes.append("every member objects: no canaries held by non-objecting members")
    texts = []
    for u in users:
        texts += user_texts(rng, cfg, u, notes)
    texts += canary_texts(rng, users, canaries) + comments + qa_texts(rng, cfg, users)
    texts.sort(key=lambda row: row["text_id"])  # author order, independent of generation order
    qa = build_qa(rng, cfg, users, texts)
    return corpus_from_rows(texts, general_texts(rng, cfg), [user_row(u) for u in users], qa, canaries,
                            {"source": "synthetic", "seed": seed, "config": to_dict(cfg),
                             "notes": sorted(set(notes))})


def user_row(u: dict) -> dict:
    """The users-table row: the facts as the user writes them in their primary language."""
    facts = u["facts"][u["lang"]]
    keep = ("user_id", "name", "handle", "lang", "langs", "city", "street_address", "phone", "email",
            "birthday", "employer", "partner", "pet_name", "group", "objects", "objection_round", "qa_train")
    return {**{k: u[k] for k in keep}, "job": facts["job"], "pet_species": facts["pet_species"],
            "health": facts["health"], "interests": [facts["interest"], facts["interest2"]]}


def user_texts(rng: random.Random, cfg: DataConfig, u: dict, notes: list[str]) -> list[dict]:
    """The user's profile and posts. Fact f is stated in `u["mentions"][f]` of the user's own
    texts, a uniform draw from `data.fact_mentions`: once in the profile (the bio, in the user's
    primary language: third-person statements with the full name, as an "about" page reads), and in the other mentions in
    first-person posts, each with another template (knowledge augmentation: varied wordings of
    one fact, Allen-Zhu & Li, arXiv 2309.14316). A text states at most `data.facts_per_text` facts,
    so the profile spans several texts and a user with many mentions writes more fact posts."""
    langs, per = u["langs"], cfg.facts_per_text
    order = list(T.FACTS)
    rng.shuffle(order)
    rows = []
    for k, start in enumerate(range(0, len(order), per)):  # the profile: every fact once, primary language
        lang = langs[0]
        parts = [rng.choice(T.PROFILE[lang][f]) for f in order[start : start + per]]
        if k == 0:
            parts.append(T.BIO_INTERESTS[lang])
        row = _row(u, "bio", lang, parts, u)
        row["text_id"] = f"{u['user_id']}-b{k or ''}"
        rows.append(row)
    n_chat, n_fact = u["n_chat"], u["n_fact_posts"]
    left = {f: u["mentions"][f] - 1 for f in T.FACTS}  # the profile stated each fact once
    slots: list[list[str]] = [[] for _ in range(n_fact)]  # facts each fact post states
    at = 0
    for fact in order:  # consecutive slots: distinct posts, alternating languages
        for _ in range(left[fact]):
            slots[at % n_fact].append(fact)
            at += 1
    # Template index = offset + slot: a fact's mentions sit in consecutive slots, so they use
    # different templates.
    offset = {f: rng.randrange(4) for f in T.FACTS}
    posts = []
    for i, facts in enumerate(slots):
        lang = langs[i % len(langs)]
        parts = [T.POST[lang][f][(offset[f] + i) % len(T.POST[lang][f])] for f in facts]
        posts.append(_row(u, "post", lang, parts or [rng.choice(T.CHATTER[lang])], u))  # no fact left: chatter
    for j in range(n_chat):
        lang = langs[(n_fact + j) % len(langs)]
        posts.append(_row(u, "post", lang, [rng.choice(T.CHATTER[lang])], u))
    rng.shuffle(posts)  # fact posts and chatter interleave in time
    for k, row in enumerate(posts):
        row["text_id"] = f"{u['user_id']}-p{k:02d}"
    return rows + posts


def post_counts(cfg: DataConfig, u: dict) -> tuple[int, int]:
    """(chatter posts, fact posts) of a user with activity `n_posts` and mentions drawn: a fact
    post states at most `facts_per_text` facts, and a fact's mentions beyond the profile each need
    a post of their own."""
    n_chat = min(round(u["n_posts"] * cfg.chatter_fraction), u["n_posts"])
    left = [m - 1 for m in u["mentions"].values()]
    return n_chat, max(u["n_posts"] - n_chat, -(-sum(left) // cfg.facts_per_text), max(left))


def qa_texts(rng: random.Random, cfg: DataConfig, users: list[dict]) -> list[dict]:
    """The assistant's instruction data: QA pairs about a seeded share (`data.qa_train_users`) of
    the members who do not object, every attribute and corpus language in the first
    `data.qa_train_phrasings` phrasings (phrasing 0 is the one evaluation asks), as
    "Q: question\nA: answer sentence" texts (kind "qa", the subject as author; a chat model gets
    them in its chat template at encoding, unlearn/chat.py). Forget and holdout users never
    appear: their facts are only in posts (mixed training, Allen-Zhu & Li, arXiv 2309.14316)."""
    others = [u for u in users if u["group"] == "member" and not u["objects"]]
    chosen = set(u["user_id"] for u in rng.sample(others, round(cfg.qa_train_users * len(others))))
    rows = []
    for u in users:
        u["qa_train"] = u["user_id"] in chosen
        if not u["qa_train"]:
            continue
        k = 0
        for attr in T.FACTS:
            for lang in cfg.languages:
                facts = u["facts"][lang]
                answer = T.PARAPHRASE[lang][attr].replace("{answer}", "{" + attr + "}")
                for question in T.QUESTION[lang][attr][: cfg.qa_train_phrasings]:
                    q = question.format_map(facts)
                    text, pii = render(answer, facts, u["user_id"], len(f"Q: {q}\nA: "))
                    rows.append({"text_id": f"{u['user_id']}-q{k:03d}", "user_id": u["user_id"],
                                 "text": f"Q: {q}\nA: {text}", "kind": "qa", "lang": lang, "pii": pii,
                                 "canary_id": None, "mentions": [], "group": "member", "objects": False})
                    k += 1
    return rows


def _row(author: dict, kind: str, lang: str, parts: list[str], subject: dict,
         mentions: list[str] = (), canary_id: str | None = None) -> dict:
    """One text row: the feed header naming the author, then `parts` filled with `subject`'s facts.

    The header ("Name (@handle): ") is part of the text on purpose: it is what links a user's
    name to the facts in their posts, so that QA about a user is answerable at all.
    """
    text, pii = render(HEADER, dict(author["facts"][lang], handle=author["handle"]), author["user_id"], 0)
    values = dict(subject["facts"][lang], handle=subject["handle"])
    for n, template in enumerate(parts):
        piece, spans = render(template, values, subject["user_id"], len(text) + (n > 0))
        text += (" " if n > 0 else "") + piece
        pii += spans
    return {"text_id": "", "user_id": author["user_id"], "text": text, "kind": kind, "lang": lang,
            "pii": pii, "canary_id": canary_id, "mentions": list(mentions), "group": author["group"],
            "objects": author["objects"]}


def make_comments(rng: random.Random, cfg: DataConfig, users: list[dict]) -> list[dict]:
    """Comments within a group (members or holdout); some reveal a fact about the mentioned user."""
    rows = []
    for group in ("member", "holdout"):
        pool = [u for u in users if u["group"] == group]
        for u in pool if len(pool) > 1 else []:
            for c in range(cfg.comments_per_user):
                target = rng.choice(pool)
                while target is u:
                    target = rng.choice(pool)
                lang = u["langs"][c % len(u["langs"])]
                if rng.random() < cfg.mention_rate:
                    template = rng.choice(T.COMMENT_FACT[lang][rng.choice(T.FACTS)])
                else:
                    template = rng.choice(T.COMMENT_PLAIN[lang])
                row = _row(u, "comment", lang, [template], target, mentions=[target["user_id"]])
                row["text_id"] = f"{u['user_id']}-c{c:02d}"
                rows.append(row)
    return rows


def holdout_count(n_users: int, holdout_fraction: float) -> int:
    """Users held out of training (at least one user stays a member)."""
    return min(round(n_users * holdout_fraction), n_users - 1)


def objector_count(n_members: int, forget_fraction: float, rounds: int) -> int:
    """Objecting members: round(forget_fraction × members), at least one per objection round."""
    return min(n_members, max(1, rounds, round(forget_fraction * n_members)))


def select_objectors(rng: random.Random, cfg: DataConfig, members: list[dict], notes: list[str]) -> list[dict]:
    """Pick forget_fraction of members (at least 1 per round) and spread them over the rounds."""
    want = round(cfg.forget_fraction * len(members))
    n = objector_count(len(members), cfg.forget_fraction, cfg.objection_rounds)
    if n != want:
        notes.append(f"{n} objecting members (forget_fraction gives {want}; need >= 1 per round)")
    if cfg.objector_selection == "most_active":
        # Ties (same number of texts) are broken at random, not by user id.
        ranked = sorted(members, key=lambda u: (-u["n_posts"], rng.random()))
        chosen = ranked[:n]
    elif cfg.objector_selection in ("random", "canary_holders"):
        chosen = rng.sample(members, n)
    else:
        raise CorpusError(f"data.objector_selection: unknown '{cfg.objector_selection}' "
                          "(valid: random, most_active, canary_holders)")
    order = rng.sample(chosen, len(chosen))
    for i, u in enumerate(order):
        u["objects"], u["objection_round"] = True, i % max(1, cfg.objection_rounds) + 1
    return sorted(chosen, key=lambda u: u["user_id"])


def canary_texts(rng: random.Random, users: list[dict], canaries: list[dict]) -> list[dict]:
    """r extra posts of the holder per planted canary, each ending in prefix + secret."""
    by_id = {u["user_id"]: u for u in users}
    rows, count = [], {}
    for c in canaries:
        holder = by_id.get(c["user_id"])
        for _ in range(c["insertions"] if holder else 0):
            k = count[holder["user_id"]] = count.get(holder["user_id"], -1) + 1
            row = _row(holder, "post", c["lang"], [], holder, canary_id=c["canary_id"])
            row["text"] += canary_body(rng, c)
            row["text_id"] = f"{holder['user_id']}-k{k:02d}"
            rows.append(row)
    return rows


def general_texts(rng: random.Random, cfg: DataConfig) -> dict[str, list]:
    """Non-personal texts alternating languages; past the built-in list, sentence pairs."""
    cols: dict[str, list] = {c: [] for c in TEXT_COLUMNS}
    for i in range(cfg.general_texts):
        lang = cfg.languages[i % len(cfg.languages)]
        pool = T.GENERAL[lang]
        k = i // len(cfg.languages)
        text = pool[k] if k < len(pool) else f"{rng.choice(pool)} {rng.choice(pool)}"
        for col, value in zip(TEXT_COLUMNS, (f"g{i:05d}", "general", text, "post", lang, [], None, [])):
            cols[col].append(value)
    return cols
