"""Probing attack (white box): is a forget user's attribute still linearly decodable from the
model's hidden states, even where the model no longer says it?

Method: a linear probe on frozen representations (Belinkov 2022, "Probing Classifiers: Promises,
Shortcomings, and Advances", Computational Linguistics 48(1), arXiv 2102.12452). In unlearning,
Patil et al. 2023 (arXiv 2309.17410) recover "deleted" facts from intermediate hidden states, and
Łucki et al. 2024 (arXiv 2409.18025) show that unlearned knowledge often remains in the weights.

Per user u the prompt x_u = "{name} (@{handle}):", the header every one of u's texts starts with
(it names u without stating the attribute), and h_u^ℓ the hidden state of its last token at
layer ℓ (0 = embeddings; HF's last entry is after the final norm). The probe is

    p(y | h) = softmax(W · standardize(h_u^ℓ*) + b),   multinomial logistic regression, L2, C = 1,

fitted on RETAIN users only (members who did not object), never on forget or holdout users.
ℓ* = argmax_ℓ of its stratified k-fold accuracy on retain users (k = min(5, smallest class)): the
adversary picks the layer with data it legitimately has. Settings, per forget user:
"linear" = 1[argmax_y p(y | h_u) = y_u]; "chance" = 1[majority retain label = y_u] (the baseline).
"linear" also scores holdout users, whom no model ever saw: the floor, i.e. what the probe reads
from the name alone (a German name predicts a German city). A removal leaves forget users at
that floor; retrain is the control, original the ceiling.

Deviations: labels held by fewer than 2 retain users are left out of training (k-fold needs 2
per class); forget and holdout users whose label the probe never saw are left out of testing
(they cannot be right), counted in `Probe.info["dropped"]`.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from unlearn.attacks.base import AttackContext
from unlearn.corpus.generate import HEADER
from unlearn.data import TokenData

MAX_FOLDS = 5


class Probe:
    """Linear probe on retain users' hidden states, tested on forget (and holdout) users."""

    name = "probe"

    def __init__(self, cfg_attacks):
        self.attribute = cfg_attacks.probe_attribute
        self.info: dict = {}  # the last run: layer, CV accuracies, training user ids, dropped counts

    def settings(self) -> list[str]:
        return ["chance", "linear"]

    def run(self, model, tok, ctx: AttackContext) -> dict[str, dict[str, np.ndarray]]:
        """Per-user 0/1 arrays: "chance" and "linear" on forget users, "linear" on holdout users."""
        groups = user_groups(ctx.corpus.tables["users"], self.attribute)
        states = {g: user_hidden_states(model, tok, users, ctx.cfg.eval.batch_size, ctx.acc.device)
                  for g, users in groups.items()}  # each (n_g, L+1, H)
        x, y, train_ids = training_set(groups["retain"], states["retain"], self.attribute)
        layer, cv_acc = choose_layer(x, y, ctx.seed)
        probe = make_probe(ctx.seed).fit(x[:, layer], y)
        labels, counts = np.unique(y, return_counts=True)
        majority = labels[counts.argmax()]  # ties: the first label in sorted order
        out = {"chance": {}, "linear": {}}
        dropped = {}
        for split in ("forget", "holdout"):
            truth = np.array([u[self.attribute] for u in groups[split]])
            known = np.isin(truth, labels)  # a label the probe never saw cannot be predicted
            dropped[split] = int((~known).sum())
            pred = probe.predict(states[split][known][:, layer]) if known.any() else truth[:0]
            out["linear"][f"{split}.probe_correct"] = (pred == truth[known]).astype(float)
            if split == "forget":
                out["chance"]["forget.probe_correct"] = (truth[known] == majority).astype(float)
        self.info = {"attribute": self.attribute, "layer": layer, "cv_accuracy": cv_acc.tolist(),
                     "train_users": train_ids, "labels": labels.tolist(), "majority_label": str(majority),
                     "dropped": dropped, "n_iter": int(probe[-1].n_iter_.max())}
        return out


def user_groups(users, attribute: str) -> dict[str, list[dict]]:
    """Users table rows by role: retain (members who did not object), forget, holdout."""
    missing = {"name", "handle", attribute} - set(users.column_names)
    if missing:  # own corpora carry only ids and groups
        raise ValueError(f"probe attack: the users table lacks {sorted(missing)} "
                         f"(attacks.probe_attribute = '{attribute}'); it needs names, handles and the attribute")
    rows = list(users)
    return {"retain": [u for u in rows if u["group"] == "member" and not u["objects"]],
            "forget": [u for u in rows if u["group"] == "member" and u["objects"]],
            "holdout": [u for u in rows if u["group"] == "holdout"]}


def user_prompt(user: dict) -> str:
    """The header of the user's texts, without the trailing space: "Name (@handle):"."""
    return HEADER.format(name=user["name"], handle=user["handle"]).rstrip()


@torch.inference_mode()
def user_hidden_states(model, tok, users: list[dict], batch_size: int, device) -> np.ndarray:
    """(n_users, n_layers+1, hidden) float32: every layer's hidden state at the last prompt token.

    Prompts are bos + tokens, as texts are encoded for training (data.encode) but without eos;
    batches are length-sorted and right-padded, so each row's last real token is at mask.sum - 1.
    """
    model.eval()
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    body = tok([user_prompt(u) for u in users], add_special_tokens=False)["input_ids"]
    data = TokenData([[bos] + b for b in body], tok.pad_token_id)
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    out = [None] * len(data)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in data.batch(idx).items()}
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       output_hidden_states=True).hidden_states  # L+1 tensors of (B, T, H)
        stacked = torch.stack(hidden, dim=1)  # (B, L+1, T, H)
        last = batch["attention_mask"].sum(1) - 1  # (B,) index of the last non-pad token
        picked = stacked[torch.arange(len(idx), device=stacked.device), :, last]  # (B, L+1, H)
        for row, i in enumerate(idx):
            out[i] = picked[row].float().cpu().numpy()
    return np.stack(out) if out else np.zeros((0, 0, 0), np.float32)


def training_set(retain: list[dict], states: np.ndarray, attribute: str):
    """(x (n, L+1, H), y (n,), user ids): retain users whose label at least 2 retain users hold."""
    y = np.array([u[attribute] for u in retain])
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= 2])
    if len(np.unique(y[keep])) < 2:
        raise ValueError(f"probe attack: fewer than 2 values of '{attribute}' are held by 2+ retain users; "
                         "choose another attacks.probe_attribute or a larger corpus")
    return states[keep], y[keep], [u["user_id"] for u, k in zip(retain, keep) if k]


def make_probe(seed: int) -> Pipeline:
    """Standardize, then multinomial logistic regression (lbfgs; softmax over all labels)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, random_state=seed))


def choose_layer(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[int, np.ndarray]:
    """(best layer, per-layer mean CV accuracy): stratified k-fold on retain users only."""
    folds = StratifiedKFold(min(MAX_FOLDS, np.unique(y, return_counts=True)[1].min()), shuffle=True,
                            random_state=seed)
    with warnings.catch_warnings():  # many labels, few users each: a classification all the same
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        acc = np.array([cross_val_score(make_probe(seed), x[:, layer], y, cv=folds).mean()
                        for layer in range(x.shape[1])])  # (L+1,)
    return int(acc.argmax()), acc
