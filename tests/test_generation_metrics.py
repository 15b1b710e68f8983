"""Generation metrics: batched decoding, verbatim memorization, QA (asked in the template)/truth ratio, utility."""
import math
import random

import numpy as np
import pytest
import torch
from helpers import VOCAB, tiny_lm
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from unlearn.metrics import qa, utility, verbatim
from unlearn.metrics.generate import cut_at_eos, generate

WORDS = ("Where does Matthias Schneider work ? is employed by BASF . dm Allianz Continental Q : A "
         "the cat sat on mat a dog ran Paris Lyon capital of France").split()
ROW = {"qa_id": "u0001-employer-en-0", "user_id": "u0001", "attribute": "employer", "lang": "en",
       "question": "Where does Matthias Schneider work?", "answer": "BASF",
       "paraphrased_answer": "Matthias is employed by BASF.", "perturbed_answers": ["dm", "Allianz", "Continental"],
       "phrasing": 0, "third_party": False, "stated": True}


@pytest.fixture(scope="module")
def tok():
    """Word-level tokenizer with tiny_lm's special ids (pad 0, bos 1, eos 2), padded to its vocab."""
    names = ["<pad>", "<s>", "</s>", "[UNK]"] + list(dict.fromkeys(WORDS))
    names += [f"w{i}" for i in range(len(names), VOCAB)]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(names)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="[UNK]")


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def random_prompts(n, seed=0):
    rng = random.Random(seed)
    return [[1] + [rng.randrange(3, VOCAB) for _ in range(rng.randint(1, 12))] for _ in range(n)]


def argmax_loop(model, prompt, n):
    """Reference greedy decoding: full forward per step, no cache, no padding."""
    seq, new = list(prompt), []
    for _ in range(n):
        with torch.no_grad():
            nxt = model(input_ids=torch.tensor([seq])).logits[0, -1].argmax().item()
        if nxt == 2:
            break
        seq.append(nxt)
        new.append(nxt)
    return new


# --- generate ---

def test_greedy_batched_equals_unbatched_and_a_plain_argmax_loop():
    model, prompts = tiny_lm(0), random_prompts(7)
    batched = generate(model, prompts, 10, 3, "cpu", pad_id=0, eos_id=2)
    single = [generate(model, [p], 10, 1, "cpu", pad_id=0, eos_id=2)[0] for p in prompts]
    assert batched == single == [argmax_loop(model, p, 10) for p in prompts]
    assert all(2 not in g and len(g) <= 10 for g in batched)


def test_a_prefix_shared_by_a_batch_runs_once_and_decodes_as_full_prompts():
    """A system turn every prompt starts with: computed once per batch, the rest left-padded after
    it; greedy and sampled answers equal those of full prompts."""
    model, system = tiny_lm(2), [1, 40, 41, 42, 43, 44, 45]
    prompts = [system + p[1:] for p in random_prompts(5, seed=3)]
    fed = []
    hook = model.register_forward_pre_hook(lambda m, a, kw: fed.append(tuple(kw["input_ids"].shape)), with_kwargs=True)
    batched = generate(model, prompts, 8, 5, "cpu", pad_id=0, eos_id=2)
    hook.remove()
    assert fed[0] == (1, len(system)) and fed[1] == (5, max(len(p) for p in prompts) - len(system))
    assert batched == [argmax_loop(model, p, 8) for p in prompts]
    sampled = generate(model, prompts, 8, 5, "cpu", 0, 2, sample=True, top_k=1, seed=4)
    assert sampled == batched


def test_left_padding_short_prompt_alone_and_beside_a_longer_one():
    model = tiny_lm(1)
    short, long = [1, 5, 9], [1] + list(range(10, 30))
    alone = generate(model, [short], 8, 1, "cpu", 0, 2)[0]
    assert generate(model, [long, short], 8, 2, "cpu", 0, 2)[1] == alone


def test_checkpoint_generation_defaults_are_neutralised():
    model, prompts = tiny_lm(0), random_prompts(4, seed=3)
    clean = generate(model, prompts, 10, 2, "cpu", 0, 2)
    gc = model.generation_config
    gc.temperature, gc.top_k, gc.top_p, gc.repetition_penalty = 0.1, 2, 0.5, 5.0
    gc.no_repeat_ngram_size, gc.min_new_tokens = 1, 10
    assert generate(model, prompts, 10, 2, "cpu", 0, 2) == clean


def test_sampling_is_seeded_and_leaves_the_caller_rng_alone():
    model, prompts = tiny_lm(0), random_prompts(5, seed=1)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = generate(model, prompts, 10, 2, "cpu", 0, 2, sample=True, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert generate(model, prompts, 10, 2, "cpu", 0, 2, sample=True, seed=7) == a
    assert generate(model, prompts, 10, 2, "cpu", 0, 2, sample=True, seed=8) != a


def test_per_prompt_budgets_cut_each_row_to_its_own():
    """Rows decoded in batches with longer budgets equal each row decoded alone to its budget."""
    model, prompts = tiny_lm(0), random_prompts(6, seed=2)
    budgets = [3, 10, 1, 7, 10, 5]
    batched = generate(model, prompts, budgets, 4, "cpu", 0, 2)
    assert batched == [generate(model, [p], b, 1, "cpu", 0, 2)[0] for p, b in zip(prompts, budgets)]
    assert all(len(g) <= b for g, b in zip(batched, budgets))
    drawn = generate(model, prompts, budgets, 4, "cpu", 0, 2, sample=True, seed=3)
    assert all(len(g) <= b for g, b in zip(drawn, budgets))
    with pytest.raises(ValueError, match="2 budgets for 6 prompts"):
        generate(model, prompts, [1, 2], 4, "cpu", 0, 2)


def test_cut_at_eos():
    assert cut_at_eos([5, 6, 2, 0, 0], 2) == [5, 6] and cut_at_eos([5, 6], 2) == [5, 6] and cut_at_eos([2, 7], 2) == []


# --- verbatim ---

def test_rouge_l_is_unicode_aware():
    assert verbatim.words("Müller-Lüdenscheidt, Straße 12!") == ["müller", "lüdenscheidt", "straße", "12"]
    # LCS "grüße aus münchen" = 3 words: P 3/5, R 3/4, F1 = 2PR/(P+R) = 2/3
    assert verbatim.rouge_l("Grüße aus Köln und München", "Viele Grüße aus München") == pytest.approx(2 / 3)
    assert verbatim.rouge_l("", "a b") == 0.0


def test_verbatim_split_exact_flag_and_rouge(tok, monkeypatch):
    texts = ["the cat sat on the mat", "a dog ran on the mat", "cat"]
    # text 0: 6 tokens -> prompt bos + 'the cat sat', reference 'on the mat'
    seen = {}

    def fake_generate(model, prompts, max_new, batch_size, device, pad_id, eos_id):
        seen["prompts"], seen["max_new"] = prompts, max_new
        return [ids(tok, "on the mat a"), ids(tok, "on a mat")]  # text 0 right (+1 extra), text 1 wrong

    monkeypatch.setattr(verbatim, "generate", fake_generate)
    out = verbatim.verbatim(None, tok, texts, max_length=32, batch_size=2, device="cpu", max_new=48)
    assert seen["prompts"][0] == [1] + ids(tok, "the cat sat") and seen["max_new"] == 3
    assert out["generations"][:2] == ["on the mat", "on a mat"] and out["prompts"][0] == "the cat sat"
    assert out["exact"][:2].tolist() == [1.0, 0.0] and out["rougeL"][0] == 1.0
    assert out["rougeL"][1] == pytest.approx(2 / 3)  # 'on a mat' vs 'on the mat': LCS 2 of 3
    assert math.isnan(out["rougeL"][2]) and math.isnan(out["exact"][2])  # one token: skipped


def test_verbatim_caps_the_reference_and_runs_on_a_model(tok):
    assert verbatim.split_text([1, 10, 11, 12, 13, 14, 15], max_new=2) == ([1, 10, 11, 12], [13, 14])
    out = verbatim.verbatim(tiny_lm(0), tok, ["the cat sat on the mat", "a dog ran"], 32, 2, "cpu")
    assert out["rougeL"].shape == (2,) and np.all((out["rougeL"] >= 0) & (out["rougeL"] <= 1))


# --- QA ---

def test_qa_prompts_ask_in_the_template(tok):
    de = dict(ROW, question="Wie lautet die Adresse von Lena Huber?", answer="Lindenstraße 12",
              paraphrased_answer="Die Adresse von Lena lautet Lindenstraße 12.")
    assert qa.qa_prompts(tok, [ROW, de]) == [
        ("Q: Where does Matthias Schneider work?\nA:", " Matthias is employed by BASF."),
        ("Q: Wie lautet die Adresse von Lena Huber?\nA:", " Die Adresse von Lena lautet Lindenstraße 12.")]
    shots = dict(ROW, shots=[("Where does Jack work?", "Jack is employed by dm.")], system="Hi.")
    assert qa.qa_prompts(tok, [shots])[0][0] == ("Hi.\nQ: Where does Jack work?\nA: Jack is employed by dm.\n"
                                                 "Q: Where does Matthias Schneider work?\nA:")
    assert qa.tf_pairs(tok, ROW)[2] == ("Q: Where does Matthias Schneider work?\nA:", " Matthias is employed by Allianz.")


def test_answer_budgets_are_the_answer_tokens_plus_slack(tok):
    pairs = [("q", " BASF"), ("q", " the cat sat on mat" * 10), ("q", " a dog ran")]
    assert qa.answer_budgets(tok, pairs) == [1 + qa.QA_SLACK, qa.QA_MAX_NEW, 3 + qa.QA_SLACK]  # 50 + 6: capped
    assert qa.answer_budgets(tok, pairs, max_new=5) == [5, 5, 5] and qa.answer_budgets(tok, []) == []


def test_answer_matching():
    assert qa.contains(" Matthias is employed by BASF.", "BASF")
    assert qa.contains("call 0165   9787526 now", "0165 9787526") and qa.contains("works at DM", "dm")
    assert not qa.contains("the admin office", "dm")
    assert qa.common_prefix([5, 6, 7], [5, 6, 9, 10]) == 2  # a BPE merge changed the prompt's last token


def test_continuation_nll_scores_only_the_continuation(tok):
    model = tiny_lm(0)
    pairs = [("Where does Matthias Schneider work ? Matthias is employed by", " BASF ."), ("the cat", " sat")]
    got = qa.continuation_nll(model, tok, pairs, 64, 2, "cpu")
    for (prompt, cont), nll in zip(pairs, got):
        seq, n = [1] + ids(tok, prompt + cont), len(ids(tok, cont))
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0, :-1], -1)  # (T-1, V)
        token_logp = logp.gather(-1, torch.tensor(seq[1:]).unsqueeze(-1)).squeeze(-1)
        assert nll == pytest.approx(-token_logp[-n:].mean().item(), abs=1e-5)


def test_shared_prefixes_are_computed_once_and_score_as_the_full_pass():
    """Prompts of different lengths in one batch, several continuations each sharing a head, a
    duplicate, a sequence that is a prefix of another, one scored from bos: the trie scoring equals
    scoring every whole sequence, and every token that predicts another runs through the model once."""
    from unlearn.metrics.prefix_scoring import continuation_logprobs

    model = tiny_lm(0)
    prompts = [[1, 5, 6, 7, 8, 9], [1, 5, 6, 10, 11], [1, 12, 13, 14, 15, 16, 17, 18]]
    seqs, cuts = [], []
    for p, prompt in enumerate(prompts):
        for k in range(4):
            seqs.append(prompt + [20 + p, 30 + p, 40 + k] + [41] * k)  # a shared head, then the value
            cuts.append(len(prompt) - (k == 2))  # one also scores the prompt's last token
        seqs.append(prompt + [25 + p])
        cuts.append(len(prompt))
    seqs += [list(seqs[0]), seqs[0][:-1], [1, 50, 51, 52]]
    cuts += [cuts[0], cuts[0], 1]  # a duplicate, a prefix of another, scored from the first token after bos
    fed = []
    model.register_forward_pre_hook(lambda m, args, kwargs: fed.append(int((kwargs["input_ids"] != 0).sum())),
                                    with_kwargs=True)
    got = continuation_logprobs(model, seqs, cuts, batch_size=2, device="cpu", pad=0)
    assert sum(fed) == len({tuple(seq[:t]) for seq in seqs for t in range(1, len(seq))})
    fed.clear()
    for seq, cut, scores in zip(seqs, cuts, got):
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0, :-1], -1)
        want = logp.gather(-1, torch.tensor(seq[1:])[:, None])[:, 0][cut - 1 :]
        assert scores.shape == (len(seq) - cut,) and np.allclose(scores, want.numpy(), atol=1e-5)


def test_truth_ratio_and_answer_prob_by_hand(tok, monkeypatch):
    # Every token of a sequence gets the same log-prob, so its mean NLL is that value:
    # paraphrase 1, perturbed 2 / 3 / 4 -> R = exp(1 - mean(2, 3, 4)) = exp(-2).
    logp = {"dm": -3.0, "Allianz": -2.0, "Continental": -4.0}

    def fake_logprobs(model, seqs, cuts, batch_size, device, pad):
        def value(seq):
            return next((v for w, v in logp.items() if tok.convert_tokens_to_ids(w) in seq), -1.0)
        return [np.full(len(s) - c, value(s), np.float32) for s, c in zip(seqs, cuts)]

    monkeypatch.setattr(qa, "continuation_logprobs", fake_logprobs)
    answers = ["Matthias is employed by BASF .", "Matthias is employed by Allianz .", "the cat sat", "Paris"]
    monkeypatch.setattr(qa, "generate", lambda *a, **k: [ids(tok, x) for x in answers])
    out = qa.qa_eval(None, tok, [ROW] * 4, 64, 4, "cpu")
    assert out["truth_ratio"][0] == pytest.approx(math.exp(-2))
    assert out["answer_prob"][0] == pytest.approx(math.exp(-1))
    # one outcome per answer, the rates sum to one
    assert out["correct"].tolist() == [1, 0, 0, 0] and out["fabricated"].tolist() == [0, 1, 0, 0]
    assert out["other"].tolist() == [0, 0, 1, 1] and out["refused"].tolist() == [0, 0, 0, 0]
    assert out["answers"][0] == "Matthias is employed by BASF ."
    assert qa.truth_ratio(0.5, np.array([0.5, 1.5])) == pytest.approx(math.exp(-0.5))


def test_qa_eval_runs_on_a_model(tok):
    out = qa.qa_eval(tiny_lm(0), tok, [ROW, dict(ROW, attribute="phone")], 64, 2, "cpu", max_new=6)
    assert set(out) == {"correct", "fabricated", "refused", "other", "answer_prob", "truth_ratio", "answers"}
    assert np.all((out["answer_prob"] > 0) & (out["answer_prob"] <= 1)) and np.all(out["truth_ratio"] > 0)
    assert np.all(out["correct"] + out["fabricated"] + out["refused"] + out["other"] == 1)


# --- utility ---

def test_fluency_by_hand():
    lex = utility.lexicon(["The cat sat on the mat.", "Grüße aus Köln"])
    assert {"the", "cat", "grüße", "köln"} <= lex
    got = utility.fluency(["the cat sat", "the the the the", "the cat xqz", "", "!!!", "cat", "Grüße aus Köln"], lex)
    # loop: 3 bigrams, 1 distinct -> 1/3; gibberish: 2 of 3 words known -> 2/3
    assert got == pytest.approx([1.0, 1 / 3, 2 / 3, 0.0, 0.0, 1.0, 1.0])


def test_harmonic_mean():
    assert utility.harmonic_mean([1.0, 0.5]) == pytest.approx(2 / 3)
    assert utility.harmonic_mean([0.5, float("nan"), 0.25]) == pytest.approx(1 / 3)
    assert utility.harmonic_mean([0.3, 0.0]) == 0.0 and math.isnan(utility.harmonic_mean([float("nan")]))


def test_probes(tok, monkeypatch):
    probes = utility.GENERAL_PROBES
    assert len(probes) >= 36 and sum(p["lang"] == "de" for p in probes) == len(probes) // 2
    assert all(p["answer"] and p["prompt"] for p in probes)
    mine = [{"prompt": "the capital of France", "answer": "Paris", "lang": "en"}] * 2
    monkeypatch.setattr(utility, "generate", lambda *a, **k: [ids(tok, "Paris ."), ids(tok, "Lyon")])
    assert utility.probe_eval(None, tok, mine, 2, "cpu").tolist() == [1.0, 0.0]
