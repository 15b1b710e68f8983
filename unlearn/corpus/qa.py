"""QA about users (TOFU-style, arXiv 2401.06121): questions, answers, paraphrases, perturbations.

For every user, attribute and corpus language there are several question phrasings. The
answer is the value as written in the question's language (dates, jobs and illnesses are
translated; names, numbers and places are not). Perturbed answers are wrong values of the
same kind drawn from the same lists and formats, so they look as plausible as the truth.
"""
from __future__ import annotations

import random

from unlearn.config import DataConfig
from unlearn.corpus import people as P
from unlearn.corpus import templates as T
from unlearn.corpus.tables import QA_FEATURES

N_PERTURBED = 3


def perturb(rng: random.Random, user: dict, attr: str) -> dict:
    """A copy of `user` with `attr` replaced by another plausible value of the same format."""
    lang, fake = user["lang"], dict(user)
    if attr == "city":
        fake["city"] = rng.choice(P.CITIES[lang])
    elif attr == "street_address":
        fake["street_address"] = P.make_address(rng, lang)
    elif attr == "phone":
        fake["phone"] = P.make_phone(rng, lang)
    elif attr == "email":
        fake["email"] = P.make_email(rng, rng.choice(P.FEMALE[lang] + P.MALE[lang]), rng.choice(P.LAST[lang]), lang)
    elif attr == "birthday":
        fake["birthday"] = P.make_birthday(rng)
    elif attr == "employer":
        fake["employer"] = rng.choice(P.EMPLOYERS[lang])
    elif attr == "job":
        fake["job_i"] = rng.randrange(len(P.JOBS))
    elif attr == "partner":
        fake["partner"] = f"{rng.choice(P.FEMALE[lang] + P.MALE[lang])} {rng.choice(P.LAST[lang])}"
    elif attr == "pet_name":
        fake["pet_name"] = rng.choice(P.PET_NAMES)
    elif attr == "health":
        fake["health_i"] = rng.randrange(len(P.HEALTH))
    return fake


def wrong_answers(rng: random.Random, user: dict, attr: str, langs) -> dict[str, list[str]]:
    """N_PERTURBED distinct wrong values per language (the same fakes, rendered per language)."""
    # Only dates, jobs and illnesses change with the language; the rest is rendered once.
    langs = langs if attr in P.LANG_DEPENDENT else langs[:1]
    fakes, seen = [], {P.render_value(user, attr, lang) for lang in langs}
    while len(fakes) < N_PERTURBED:
        fake = perturb(rng, user, attr)
        values = [P.render_value(fake, attr, lang) for lang in langs]
        if seen.isdisjoint(values):  # wrong in every language and not a repeat
            seen.update(values)
            fakes.append(values)
    return {lang: [f[i] for f in fakes] for i, lang in enumerate(langs)}


def build_qa(rng: random.Random, cfg: DataConfig, users: list[dict], texts: list[dict]) -> dict[str, list]:
    """QA columns for every user x attribute x language x phrasing.

    third_party: a non-objecting member other than the subject states the fact in a retain
    text. mentions: how many of the subject's own texts state the fact (`data.fact_mentions`). stated: the answer string occurs in one of the subject's own texts (always true in
    a language the user writes the fact in; cross-lingual rows of translated facts may not be).
    """
    own: dict[str, list[str]] = {}
    third: set[tuple[str, str]] = set()
    for row in texts:
        if row["kind"] != "qa":  # the assistant's QA pairs are not the user's own writing
            own.setdefault(row["user_id"], []).append(row["text"])
        if row["group"] == "member" and not row["objects"]:
            third.update((s["subject"], s["type"]) for s in row["pii"] if s["subject"] != row["user_id"])
    cols: dict[str, list] = {c: [] for c in QA_FEATURES}
    for u in users:
        uid, blob = u["user_id"], "\n".join(own.get(u["user_id"], []))
        for attr in T.FACTS:
            wrong = wrong_answers(rng, u, attr, cfg.languages)
            for lang in cfg.languages:
                facts = u["facts"][lang]
                answer, questions = facts[attr], T.QUESTION[lang][attr]
                n = len(questions)
                # Whole columns are extended per (user, attribute, language): the phrasings
                # share everything but the question, and this loop runs 10^5 times at 10k users.
                cols["qa_id"] += [f"{uid}-{attr}-{lang}-{k}" for k in range(n)]
                cols["question"] += [q.format_map(facts) for q in questions]
                cols["phrasing"] += range(n)
                for col, value in (("user_id", uid), ("attribute", attr), ("lang", lang), ("answer", answer),
                                   ("paraphrased_answer", T.PARAPHRASE[lang][attr].format(first=u["first"], name=u["name"], pet_species=facts["pet_species"], answer=answer)),
                                   ("perturbed_answers", wrong.get(lang, wrong[cfg.languages[0]])), ("third_party", (uid, attr) in third),
                                   ("stated", answer in blob), ("mentions", u["mentions"][attr])):
                    cols[col] += [value] * n
    return cols
