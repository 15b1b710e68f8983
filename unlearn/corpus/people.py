"""Built-in word lists per language and the users of the synthetic social network.

Every personal value is drawn from these lists (names, cities, streets, employers, ...) or
generated in a language-typical format (phones, e-mails). Values whose wording depends on
the language (job, health, pet species, interests, birthday) are kept as indices/dates and
rendered per language by `render_facts`, so a bilingual user states the same fact in both.
"""
from __future__ import annotations

import datetime as dt
import random

FEMALE = {
    "en": "Emma Olivia Amelia Isla Ava Mia Grace Sophie Lily Chloe Ella Evie Freya Ruby Alice Harriet "
          "Lucy Florence Poppy Rosie Hannah Eleanor Megan Abigail Jessica Charlotte Zoe Bethany Holly Anna".split(),
    "de": "Lena Anna Marie Sophie Laura Julia Lea Hannah Katharina Johanna Clara Emilia Lisa Sarah "
          "Jana Paula Franziska Miriam Helene Greta Ida Nele Carla Svenja Theresa Antje Birgit Ute Lotte Frieda".split(),
}
MALE = {
    "en": "Oliver George Harry Jack Noah Leo Arthur Oscar Charlie Henry Thomas James William Samuel "
          "Joshua Daniel Alfie Freddie Archie Edward Lewis Adam Ryan Callum Owen Ben Jacob Toby Luke Max".split(),
    "de": "Lukas Jonas Felix Paul Leon Maximilian Tim Niklas Jan Moritz Tobias Florian Sebastian "
          "Matthias Stefan Thomas Andreas Jens Uwe Henrik Malte Ole Benedikt Konstantin Julian Fabian Philipp Hannes Kai Lars".split(),
}
LAST = {
    "en": "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker "
          "White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis Harris Martin Cooper King Lee "
          "Baker Hughes Turner Hill Ward Morris Moore Clark Cook Harrison Morgan Bennett Gray Carter "
          "Shaw Mills Fisher Barker Palmer Mason Marshall Chapman Ellis Fletcher Hunt Lloyd Porter "
          "Kennedy Webb Pearson Holmes Reid".split(),
    "de": "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
          "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann "
          "Lange Schmitt Werner Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König Walter "
          "Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Vogel Friedrich Keller "
          "Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke".split(),
}
CITIES = {
    "en": "London Manchester Bristol Leeds Sheffield Liverpool Nottingham Leicester Brighton Oxford "
          "Cambridge York Bath Norwich Exeter Plymouth Southampton Reading Coventry Derby Newcastle "
          "Birmingham Cardiff Swansea Edinburgh Glasgow Aberdeen Dundee Belfast Canterbury".split(),
    "de": "Berlin Hamburg München Köln Frankfurt Stuttgart Düsseldorf Leipzig Dortmund Essen Bremen "
          "Dresden Hannover Nürnberg Duisburg Bochum Wuppertal Bielefeld Bonn Münster Mannheim "
          "Karlsruhe Augsburg Wiesbaden Freiburg Kiel Rostock Potsdam Erfurt Regensburg".split(),
}
STREETS = {
    "en": ["Mill Lane", "Church Street", "Station Road", "Victoria Road", "Green Lane", "Park Avenue",
           "Manor Road", "Kings Road", "Queens Road", "New Street", "Grange Road", "Highfield Road",
           "Springfield Road", "Chester Road", "Windsor Road", "Albert Road", "London Road",
           "Richmond Road", "York Road", "Elm Grove", "Oak Avenue", "Willow Close", "Beech Drive",
           "Meadow Way", "Orchard Close", "Castle Street", "Bridge Street", "North Street",
           "Cherry Tree Walk", "Brook Lane"],
    "de": ["Lindenstraße", "Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße",
           "Dorfstraße", "Bergstraße", "Birkenweg", "Waldstraße", "Ringstraße", "Kirchstraße",
           "Mühlenweg", "Goethestraße", "Schillerstraße", "Rosenweg", "Amselweg", "Jahnstraße",
           "Blumenstraße", "Am Markt", "Eichendorffweg", "Feldstraße", "Wiesenweg", "Lessingstraße",
           "Parkstraße", "Buchenweg", "Beethovenstraße", "Mozartstraße", "Friedhofstraße",
           "Kastanienallee", "Uhlandstraße"],
}
EMPLOYERS = {
    "en": ["Tesco", "Barclays", "BT Group", "Rolls-Royce", "Unilever", "Sainsbury's", "Aviva",
           "Lloyds Bank", "Network Rail", "Jaguar Land Rover", "Boots", "John Lewis", "Vodafone",
           "HSBC", "Marks & Spencer", "Arup", "Ocado", "Dyson", "Greggs", "Deliveroo"],
    "de": ["Siemens", "Bosch", "SAP", "BASF", "Lufthansa", "Allianz", "Edeka", "Rewe", "Volkswagen",
           "BMW", "Zalando", "Henkel", "Bayer", "Otto", "Beiersdorf", "Continental", "dm", "Aldi",
           "Porsche", "Adidas"],
}
# (english, german masculine, german feminine)
JOBS = [("nurse", "Krankenpfleger", "Krankenpflegerin"), ("teacher", "Lehrer", "Lehrerin"),
        ("software developer", "Softwareentwickler", "Softwareentwicklerin"),
        ("plumber", "Klempner", "Klempnerin"), ("bookkeeper", "Buchhalter", "Buchhalterin"),
        ("town planner", "Stadtplaner", "Stadtplanerin"), ("pharmacist", "Apotheker", "Apothekerin"),
        ("bus driver", "Busfahrer", "Busfahrerin"), ("baker", "Bäcker", "Bäckerin"),
        ("physiotherapist", "Physiotherapeut", "Physiotherapeutin"), ("journalist", "Journalist", "Journalistin"),
        ("lawyer", "Anwalt", "Anwältin"), ("chef", "Koch", "Köchin"), ("librarian", "Bibliothekar", "Bibliothekarin"),
        ("mechanic", "Mechaniker", "Mechanikerin"), ("data analyst", "Datenanalyst", "Datenanalystin"),
        ("social worker", "Sozialarbeiter", "Sozialarbeiterin"), ("carpenter", "Tischler", "Tischlerin"),
        ("dentist", "Zahnarzt", "Zahnärztin"), ("graphic designer", "Grafikdesigner", "Grafikdesignerin")]
# Special-category health data (GDPR Art. 9): (english, german)
HEALTH = [("asthma", "Asthma"), ("type 1 diabetes", "Typ-1-Diabetes"), ("migraines", "Migräne"),
          ("epilepsy", "Epilepsie"), ("Crohn's disease", "Morbus Crohn"), ("psoriasis", "Schuppenflechte"),
          ("coeliac disease", "Zöliakie"), ("multiple sclerosis", "Multiple Sklerose"),
          ("depression", "Depressionen"), ("high blood pressure", "Bluthochdruck"),
          ("rheumatoid arthritis", "Rheuma"), ("Hashimoto's thyroiditis", "Hashimoto")]
# German species are masculine or neuter only, so "mein"/"unser" + species is always correct.
SPECIES = [("dog", "Hund"), ("cat", "Kater"), ("rabbit", "Kaninchen"), ("hamster", "Hamster"),
           ("budgie", "Wellensittich"), ("horse", "Pferd")]
PET_NAMES = ("Bruno Luna Milo Bella Charlie Nala Oskar Balu Lucky Kiwi Pepper Simba Mogli Lotti Rocky "
             "Daisy Teddy Flocke Biscuit Ziggy Minka Pixie Hugo Frodo").split()
INTERESTS = [("hiking", "Wandern"), ("chess", "Schach"), ("photography", "Fotografie"),
             ("baking", "Backen"), ("football", "Fußball"), ("climbing", "Klettern"),
             ("knitting", "Stricken"), ("jazz", "Jazz"), ("gardening", "Gärtnern"),
             ("cycling", "Radfahren"), ("board games", "Brettspiele"), ("yoga", "Yoga")]
MONTHS = {"en": "January February March April May June July August September October November December".split(),
          "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()}
EMAIL_DOMAINS = {"en": ["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk", "icloud.com"],
                 "de": ["gmx.de", "web.de", "posteo.de", "t-online.de", "gmail.com"]}
LANGUAGES = ("en", "de")
LANG_DEPENDENT = ("birthday", "job", "health")  # QA answers differ between languages


def render_date(iso: str, lang: str) -> str:
    """An ISO date as people write it: 'March 4, 1990' (en) or '4. März 1990' (de)."""
    d = dt.date.fromisoformat(iso)
    if lang == "de":
        return f"{d.day}. {MONTHS['de'][d.month - 1]} {d.year}"
    return f"{MONTHS['en'][d.month - 1]} {d.day}, {d.year}"


def make_phone(rng: random.Random, lang: str) -> str:
    """A mobile number in the national format: '07dd dddddd'-style (en), '01dd ddddddd' (de)."""
    if lang == "de":
        return f"01{rng.choice('567')}{rng.randrange(10)} {rng.randrange(10**7):07d}"
    return f"07{rng.randrange(100, 1000)} {rng.randrange(10**6):06d}"


def make_address(rng: random.Random, lang: str) -> str:
    """A street address: '12 Mill Lane' (en) or 'Lindenstraße 12' (de)."""
    street, number = rng.choice(STREETS[lang]), rng.randrange(1, 200)
    return f"{street} {number}" if lang == "de" else f"{number} {street}"


def make_birthday(rng: random.Random) -> str:
    """An ISO birthday between 1955 and 2004."""
    start = dt.date(1955, 1, 1).toordinal()
    return dt.date.fromordinal(start + rng.randrange(50 * 365)).isoformat()


def make_email(rng: random.Random, first: str, last: str, lang: str) -> str:
    """A plausible personal address built from the name (umlauts transliterated)."""
    plain = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
    f, l = first.translate(plain).lower(), last.translate(plain).lower()
    local = rng.choice([f"{f}.{l}", f"{f}{l}", f"{f[0]}.{l}", f"{f}_{l[0]}", f"{l}.{f}"])
    if rng.random() < 0.5:
        local += str(rng.randrange(10, 100))
    return f"{local}@{rng.choice(EMAIL_DOMAINS[lang])}"


def make_users(rng: random.Random, n: int, languages: tuple[str, ...], bilingual: float) -> list[dict]:
    """`n` users with unique names, handles, phones, e-mails and addresses."""
    seen: set[str] = set()  # one namespace suffices: the value kinds never collide

    def unique(make):
        # Redraw until unseen; lists are sized so this needs few tries even at 10k users.
        while (value := make()) in seen:
            pass
        seen.add(value)
        return value

    users = []
    for i in range(n):
        lang = rng.choice(languages)
        female = rng.random() < 0.5
        first = rng.choice((FEMALE if female else MALE)[lang])

        def name():
            last = rng.choice(LAST[lang])
            # A middle initial keeps names unique past first x last combinations.
            mid = f" {chr(65 + rng.randrange(26))}." if len(seen) > 2000 and rng.random() < 0.5 else ""
            return f"{first}{mid} {last}"

        full = unique(name)
        last = full.split()[-1]
        others = [x for x in languages if x != lang]
        langs = [lang] + ([rng.choice(others)] if others and rng.random() < bilingual else [])
        city = rng.choice(CITIES[lang])
        users.append({
            "user_id": f"u{i:04d}", "name": full, "first": first, "female": female,
            "handle": unique(lambda: f"{first.lower()}_{last[0].lower()}"
                             + (str(rng.randrange(1, 1000)) if rng.random() < 0.7 else "")),
            "lang": lang, "langs": langs, "city": city,
            # The address is unique together with its city.
            "street_address": unique(lambda: make_address(rng, lang) + "|" + city).split("|")[0],
            "phone": unique(lambda: make_phone(rng, lang)),
            "email": unique(lambda: make_email(rng, first, last, lang)),
            "birthday": make_birthday(rng),
            "employer": rng.choice(EMPLOYERS[lang]),
            "job_i": rng.randrange(len(JOBS)), "health_i": rng.randrange(len(HEALTH)),
            "species_i": rng.randrange(len(SPECIES)), "pet_name": rng.choice(PET_NAMES),
            "partner": f"{rng.choice((MALE if female else FEMALE)[lang])} {rng.choice(LAST[lang])}",
            "interest_i": rng.sample(range(len(INTERESTS)), 2),
        })
    return users


FACT_KEYS = ("name", "first", "city", "street_address", "phone", "email", "birthday", "employer",
             "job", "partner", "pet_species", "pet_name", "health", "interest", "interest2")


def render_value(user: dict, key: str, lang: str) -> str:
    """One of the user's facts (a placeholder name of the templates) as written in `lang`."""
    li = LANGUAGES.index(lang)
    if key == "birthday":
        return render_date(user["birthday"], lang)
    if key == "job":
        job = JOBS[user["job_i"]]
        return job[0] if lang == "en" else job[2 if user["female"] else 1]
    if key == "health":
        return HEALTH[user["health_i"]][li]
    if key == "pet_species":
        return SPECIES[user["species_i"]][li]
    if key in ("interest", "interest2"):
        return INTERESTS[user["interest_i"][key == "interest2"]][li]
    return user[key]


def render_facts(user: dict, lang: str) -> dict[str, str]:
    """All of the user's facts as written in `lang` (placeholder name -> string)."""
    return {key: render_value(user, key, lang) for key in FACT_KEYS}
