"""Small pure helpers every method and metric shares: token log-probs, sequence NLL.

Conventions: `labels` are the input ids with -100 on positions that are not scored; position t
of the logits predicts token t+1. Per-example quantities are returned as (B,) tensors and
batch losses are means over examples, so that a global batch split across processes gives
exactly the same gradient (see train.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of each next token and the mask of scored positions, both (B, T-1)."""
    logits = logits[:, :-1].float()  # (B, T-1, V): position t predicts token t+1
    targets = labels[:, 1:]  # (B, T-1)
    mask = targets != -100
    logp = -F.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none")
    return logp * mask, mask


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed log π(y|x) over the scored tokens of each example, (B,)."""
    logp, _ = token_logprobs(logits, labels)
    return logp.sum(dim=1)


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean token negative log-likelihood of each example, (B,)."""
    logp, mask = token_logprobs(logits, labels)
    return -logp.sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def batch_nll(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over examples of each example's mean token NLL: the scalar every NLL term uses."""
    return sequence_nll(forward_logits(model, batch), batch["labels"]).mean()


def forward_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits (B, T, V) of a causal LM on a padded batch."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits



@torch.no_grad()
def sequence_logprobs(model, data, batch_size: int, device) -> torch.Tensor:
    """`sequence_logprob` of every example of `data` (a TokenData), (N,) on the CPU: the model in
    eval mode, batches of `batch_size` cut from the examples sorted by length (little padding)."""
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    out = torch.empty(len(data))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in data.batch(idx).items()}
        out[idx] = sequence_logprob(forward_logits(model, batch), batch["labels"]).float().cpu()
    return out


def token_kl(ref_logits: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """KL(π_ref ‖ π_θ) over the vocabulary at each scored position, averaged per example, (B,).

    Uses the same shift and mask as `token_logprobs`: position t's distribution is compared
    where token t+1 is scored (labels != -100).
    """
    ref_logp = F.log_softmax(ref_logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
    kl = (ref_logp.exp() * (ref_logp - logp)).sum(dim=-1)  # (B, T-1)
    mask = labels[:, 1:] != -100
    return (kl * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def npo_loss(logp_theta: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO (arXiv 2404.05868): −(2/β)·mean log σ(−β·(log π_θ − log π_ref)), on (B,) sequence log-probs.

    Written as (2/β)·softplus(β·Δ), the numerically stable form of −(2/β)·log σ(−β·Δ).
    """
    return (2.0 / beta) * F.softplus(beta * (logp_theta - logp_ref)).mean()


def simnpo_loss(mean_logp: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """SimNPO (arXiv 2410.07163): −(2/β)·mean log σ(−β·log π_θ/|y| − γ), on (B,) mean token log-probs."""
    return (2.0 / beta) * F.softplus(beta * mean_logp + gamma).mean()


def dpo_loss(logp_w: torch.Tensor, logp_ref_w: torch.Tensor, logp_l: torch.Tensor, logp_ref_l: torch.Tensor,
             beta: float) -> torch.Tensor:
    """DPO (arXiv 2305.18290) on (B,) sequence log-probs, y_w preferred and y_l rejected:

    −mean log σ(β·[(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))]).
    """
    margin = (logp_w - logp_ref_w) - (logp_l - logp_ref_l)  # (B,)
    return -F.logsigmoid(beta * margin).mean()
