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
GENERATOR_VERSION = 2


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
    texts += canary_texts(rng, users, canaries) + comments
    texts.sort(key=lambda row: row["text_id"])  # author order, independent of generation order
    qa = build_qa(rng, cfg, users, texts)
    return corpus_from_rows(texts, general_texts(rng, cfg), [user_row(u) for u in users], qa, canaries,
                            {"source": "synthetic", "seed": seed, "config": to_dict(cfg),
                             "notes": sorted(set(notes))})


def user_row(u: dict) -> dict:
    """The users-table row: the facts as the user writes them in their primary language."""
    facts = u["facts"][u["lang"]]
    keep = ("user_id", "name", "handle", "lang", "langs", "city", "street_address", "phone", "email",
            "birthday", "employer", "partner", "pet_name", "group", "objects", "objection_round")
    return {**{k: u[k] for k in keep}, "job": facts["job"], "pet_species": facts["pet_species"],
            "health": facts["health"], "interests": [facts["interest"], facts["interest2"]]}


def user_texts(rng: random.Random, cfg: DataConfig, u: dict, notes: list[str]) -> list[dict]:
    """The user's bio and posts; each fact lands in `fact_repeats` different fact texts."""
    n_chat = min(round(u["n_posts"] * cfg.chatter_fraction), u["n_posts"])
    n_fact = 1 + u["n_posts"] - n_chat  # the bio is always a fact text
    repeats = min(cfg.fact_repeats, n_fact)
    if repeats < cfg.fact_repeats:
        notes.append(f"fact_repeats capped at {repeats} for users with few posts")
    langs = u["langs"]
    slots: list[list[str]] = [[] for _ in range(n_fact)]  # facts each fact text states
    for a, fact in enumerate(T.FACTS):
        for r in range(repeats):  # consecutive slots: distinct texts, alternating languages
            slots[(a * repeats + r) % n_fact].append(fact)
    # Template index = offset + slot: a fact's repeats sit in consecutive slots, so they use
    # different templates (bio and posts draw from different pools anyway).
    offset = {f: rng.randrange(4) for f in T.FACTS}
    rows = []
    for i, facts in enumerate(slots):
        lang = langs[i % len(langs)]
        pool = T.BIO if i == 0 else T.POST
        parts = [rng.choice(T.BIO_OPEN[lang])] if i == 0 else []
        parts += [pool[lang][f][(offset[f] + i) % len(pool[lang][f])] for f in facts]
        if i == 0:
            parts.append(T.BIO_INTERESTS[lang])
        rows.append(_row(u, "bio" if i == 0 else "post", lang, parts, u))
    for j in range(n_chat):
        lang = langs[(n_fact + j) % len(langs)]
        rows.append(_row(u, "post", lang, [rng.choice(T.CHATTER[lang])], u))
    order = rows[1:]
    rng.shuffle(order)  # fact posts and chatter interleave in time
    for k, row in enumerate(order):
        row["text_id"] = f"{u['user_id']}-p{k:02d}"
    rows[0]["text_id"] = f"{u['user_id']}-b"
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
