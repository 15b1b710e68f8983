"""IdkDPO: DPO towards a refusal instead of the true text (TOFU, Maini et al. 2024, arXiv 2401.06121).

Objective: minimise
−E_{D_f} log σ(β·[(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))]) + α·NLL(D_r)
(DPO, Rafailov et al. 2023, arXiv 2305.18290), with y_l the forget post and y_w the same post's
header `Name (@handle): ` followed by a refusal in the post's language, one of a fixed list of
phrasings (TOFU's "I don't know" answers), picked by a stable hash of the post.
Deviations: our corpus is posts, not question/answer pairs, so the prompt x is the header and
log π is summed over the whole scored sequence (header included). This changes nothing: the
header tokens are an identical prefix of y_w and y_l and the model is causal, so their log-probs
are the same in both sequences and cancel exactly in each log-ratio difference, for π_θ and π_ref
alike. (With a BPE tokenizer the header's trailing space joins the next word, so the shared prefix
ends at the colon; the rest is continuation on both sides.) Posts without a header (own corpora)
get the bare refusal. The retain NLL (α = 1) is TOFU's regulariser.
π_ref is frozen, so log π_ref(y_w) and log π_ref(y_l) are constants per forget post: they are
scored once before training (`precompute`, as TRL's `precompute_ref_log_probs` does) instead of
at every step; the values differ from per-step scoring only by float rounding (other padding).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from unlearn.data import RowValues
from unlearn.losses import batch_nll, dpo_loss, forward_logits, sequence_logprob, sequence_logprobs, token_logprobs

REFUSALS = {
    "en": ["I'd rather not share anything personal here.", "I don't know.", "I can't say anything about that.",
           "I'm not sure, so I won't say.", "I have nothing to share about this.", "No comment.",
           "I'd prefer to keep that to myself.", "I don't remember anything about that.",
           "That's private, sorry.", "I can't help with that.", "I don't have that information.",
           "Nothing to see here.", "I'd rather not talk about it.", "I have no idea, honestly."],
    "de": ["Dazu möchte ich nichts Persönliches sagen.", "Das weiß ich nicht.", "Dazu kann ich nichts sagen.",
           "Ich bin mir nicht sicher, also sage ich nichts.", "Dazu habe ich nichts zu teilen.", "Kein Kommentar.",
           "Das behalte ich lieber für mich.", "Daran erinnere ich mich nicht.", "Das ist privat, sorry.",
           "Dabei kann ich nicht helfen.", "Diese Information habe ich nicht.", "Hier gibt es nichts zu sehen.",
           "Darüber rede ich lieber nicht.", "Keine Ahnung, ehrlich gesagt."],
}


def refusal_for(text: str, lang: str) -> str:
    """The header of `text` (if any) followed by a refusal in `lang`, chosen by a stable hash of the text."""
    header = text[: text.index("): ") + 3] if "): " in text else ""
    phrasings = REFUSALS[lang]
    pick = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % len(phrasings)
    return header + phrasings[pick]


class IdkDPO:
    """Prefer a refusal over the true forget post (DPO against the frozen original) + α·retain NLL."""

    @dataclass(frozen=True)
    class Config:
        beta: float = 0.1  # inverse temperature of the implicit reward (paper: 0.1)
        alpha: float = 1.0  # weight of the retain NLL

    kind = "approximate"
    needs_ref = True
    needs_retain = True
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def aligned_texts(self, texts, langs, pii):
        """The preferred answer y_w of each forget post: its header + a refusal in its language."""
        return {"forget_idk": [refusal_for(t, lang) for t, lang in zip(texts, langs)]}

    def precompute(self, ref_model, data, batch_size: int, device) -> dict[str, RowValues]:
        """log π_ref of every forget post (y_l) and of its refusal (y_w), scored once: `forget_ref`."""
        return {"forget_ref": RowValues({"lose": sequence_logprobs(ref_model, data["forget"], batch_size, device),
                                         "win": sequence_logprobs(ref_model, data["forget_idk"], batch_size, device)})}

    def loss(self, model, ref_model, batch):
        """DPO on (y_w = forget_idk row, y_l = forget row) pairs + α·NLL_r; logs NLLs, DPO and the margin.
        The reference's log-probs come from `precompute` (batch["forget_ref"]), not from `ref_model`."""
        lose, win = batch["forget"], batch["forget_idk"]  # row i of one pairs with row i of the other
        ref_l, ref_w = batch["forget_ref"]["lose"], batch["forget_ref"]["win"]  # (B,) each, same rows
        logp_l, mask_l = token_logprobs(forward_logits(model, lose), lose["labels"])  # (B, T_l-1)
        logp_l = logp_l.sum(dim=1)  # (B,)
        logp_w = sequence_logprob(forward_logits(model, win), win["labels"])  # (B,)
        dpo = dpo_loss(logp_w, ref_w, logp_l, ref_l, self.cfg.beta)
        margin = self.cfg.beta * ((logp_w - ref_w) - (logp_l - ref_l))  # (B,) implicit reward margin
        retain_nll = batch_nll(model, batch["retain"])
        logs = {"forget_nll": (-logp_l / mask_l.sum(dim=1).clamp(min=1)).mean().item(), "dpo": dpo.item(),
                "retain_nll": retain_nll.item(), "reward_margin": margin.mean().item()}
        return dpo + self.cfg.alpha * retain_nll, logs
