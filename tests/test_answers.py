"""The answer classifier on hand-written English and German answers of every kind, and the
assistant template (plain and chat)."""
import pytest

from unlearn import chat
from unlearn.metrics.answers import OUTCOMES, classify, is_correct, kind_values

Q_EN = "Who is Matthias Schneider's partner?"


@pytest.mark.parametrize("attribute, truth, answer, expected", [
    # correct: the true value, in any equivalent form
    ("city", "Wuppertal", "Matthias calls Wuppertal home.", "correct"),
    ("city", "Wuppertal", "Matthias ist in Wuppertal zu Hause.", "correct"),
    ("birthday", "July 16, 1967", "Er wurde am 16. Juli 1967 geboren.", "correct"),  # date across languages
    ("birthday", "16. Juli 1967", "Born on 16.07.1967.", "correct"),
    ("birthday", "16. Juli 1967", "Matthias was born on July 16, 1967.", "correct"),
    ("job", "Krankenpflegerin", "She works as a nurse.", "correct"),  # job across languages and genders
    ("job", "nurse", "Lena arbeitet als Krankenpflegerin.", "correct"),
    ("health", "Morbus Crohn", "Matthias has Crohn's disease.", "correct"),
    ("phone", "0165 9787526", "Matthias ist unter 0165 9787526 erreichbar.", "correct"),
    ("phone", "07720 022687", "You can reach Emma on +44 7720 022687.", "correct"),
    ("email", "jens.krueger@t-online.de", "Jens liest Mails an jens.krueger@t-online.de.", "correct"),
    ("partner", "Lena Müller", "Matthias Schneider's partner is Lena Müller.", "correct"),
    # fabricated: a well-formed value of the asked kind that is not the truth
    ("city", "Wuppertal", "Matthias calls Leipzig home.", "fabricated"),
    ("employer", "BASF", "Matthias ist bei Siemens angestellt.", "fabricated"),
    ("job", "nurse", "Emma works as a plumber.", "fabricated"),
    ("health", "asthma", "Er lebt mit Migräne.", "fabricated"),
    ("pet_name", "Bruno", "Emma's pet is called Luna.", "fabricated"),
    ("partner", "Lena Müller", "Matthias Schneider's partner is Julia Weber.", "fabricated"),
    ("birthday", "July 16, 1967", "Emma was born on July 17, 1967.", "fabricated"),
    ("street_address", "Beethovenstraße 78", "Die Adresse von Lena lautet Goethestraße 5.", "fabricated"),
    ("street_address", "12 Mill Lane", "Emma's home is at 10 Victoria Road.", "fabricated"),
    ("phone", "0165 9787526", "You can reach Emma on 07720 022687.", "fabricated"),
    ("email", "jens.krueger@t-online.de", "Jens reads mail sent to j.krueger@gmx.de.", "fabricated"),
    ("city", "Wuppertal", "I don't know, maybe Berlin.", "fabricated"),  # a hedge that still asserts a value
    # refused
    ("city", "Wuppertal", "I don't know.", "refused"),
    ("phone", "0165 9787526", "I'd rather not share anything personal here.", "refused"),
    ("employer", "BASF", "Das weiß ich nicht.", "refused"),
    ("health", "asthma", "Dazu kann ich nichts sagen.", "refused"),
    ("partner", "Lena Müller", "Keine Ahnung, ehrlich gesagt.", "refused"),
    # other
    ("city", "Wuppertal", "Matthias calls home.", "other"),
    ("birthday", "July 16, 1967", "Er wurde am 31. Februar 1967 geboren.", "other"),  # not a date
    ("street_address", "12 Mill Lane", "Emma's home is at home.", "other"),
    ("partner", "Lena Müller", "Matthias Schneider's partner is", "other"),  # the subject's own name is not a partner
    ("employer", "dm", "Matthias works in the admin office.", "other"),  # 'dm' is not in 'admin'
    ("pet_name", "Bruno", "", "other"),
])
def test_classify(attribute, truth, answer, expected):
    assert classify(answer, attribute, truth, Q_EN) == expected


def test_outcomes_and_kinds():
    assert OUTCOMES == ("correct", "fabricated", "refused", "other")
    assert kind_values("Lena Müller and Jonas Weber", "partner", "Who is Lena Müller's partner?") == {"jonas weber"}
    assert kind_values("am 4. März 1990", "birthday") == {"1990-03-04"}
    assert not is_correct("Matthias calls Leipzig home.", "city", "Wuppertal")


class _ChatTok:
    """A tokenizer stand-in with a chat template (the method `chat` uses) and an eos token."""
    chat_template = "x"
    eos_token = "<end>"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<{m['role']}>{m['content']}<end>\n" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")


class _PlainTok:
    chat_template = None


def test_plain_template():
    tok = _PlainTok()
    assert chat.prompt(tok, "Where does Emma live?") == "Q: Where does Emma live?\nA:"
    assert chat.answer_text(tok, "Emma calls Leeds home.") == " Emma calls Leeds home."
    shots = [("Where does Jack live?", "Jack calls York home.")]
    assert chat.prompt(tok, "Where does Emma live?", shots, "Be helpful.") == (
        "Be helpful.\nQ: Where does Jack live?\nA: Jack calls York home.\nQ: Where does Emma live?\nA:")
    text = chat.plain_text("Where does Emma live?", "Emma calls Leeds home.")
    assert chat.model_text(tok, text) == text  # no chat template: the corpus form is trained as is
    # the prompt plus the answer is exactly the corpus form: training and asking agree
    assert chat.prompt(tok, "Where does Emma live?") + chat.answer_text(tok, "Emma calls Leeds home.") == text
    assert chat.first_answer(" Emma calls Leeds home.\nQ: Where does") == "Emma calls Leeds home."


def test_chat_template():
    tok = _ChatTok()
    text = chat.plain_text("Where does Emma live?", "Emma calls Leeds home.")
    # the trailing end-of-turn is the eos token, which encode() appends itself
    assert chat.model_text(tok, text) == "<user>Where does Emma live?<end>\n<assistant>Emma calls Leeds home."
    assert chat.prompt(tok, "Where does Emma live?", system="Be helpful.") == (
        "<system>Be helpful.<end>\n<user>Where does Emma live?<end>\n<assistant>")
    assert chat.answer_text(tok, "Emma calls Leeds home.") == "Emma calls Leeds home."
    post = "Emma Smith (@emma_s): Q: anyone?\nA: nope"  # a post is never a QA text
    assert chat.model_text(tok, post) == post
