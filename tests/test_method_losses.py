"""Math units for the unlearning losses: hand-computed values and limits on tiny cases."""
import math

import torch
from helpers import random_tokens, tiny_lm

from unlearn.losses import forward_logits, npo_loss, sequence_logprob, sequence_nll, simnpo_loss, token_kl
from unlearn.methods.ga import GradientAscent
from unlearn.methods.ga_kl import GAKL
from unlearn.methods.graddiff import GradDiff
from unlearn.methods.npo import NPO
from unlearn.methods.retain_ft import RetainFT
from unlearn.methods.simnpo import SimNPO


def batch_of(data, n=6):
    return data.batch(list(range(n)))


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_npo_at_reference_is_2_log2_over_beta():
    logp = torch.tensor([-3.0, -10.0, -0.5])
    for beta in (0.1, 1.0, 4.0):
        assert math.isclose(npo_loss(logp, logp, beta).item(), 2 * math.log(2) / beta, rel_tol=1e-6)


def test_npo_hand_value():
    # one example, Δ = log π_θ − log π_ref = −2, β = 0.5: −(2/β)·log σ(1) = 4·log(1 + e^{−1})
    got = npo_loss(torch.tensor([-7.0]), torch.tensor([-5.0]), 0.5).item()
    assert math.isclose(got, 4 * math.log(1 + math.exp(-1)), rel_tol=1e-6)


def test_npo_gradient_tends_to_ga_as_beta_to_0():
    """∂L/∂log π_θ,i = 2σ(β·Δ_i)/B: → 1/B as β → 0 (the gradient of mean_i log π_θ,i, i.e. GA
    on summed log-probs) and below 1/B for examples already pushed under the reference."""
    logp_ref = torch.tensor([-4.0, -8.0, -2.0, -6.0])
    delta = torch.tensor([-5.0, 3.0, -20.0, 0.0])
    for beta, tol in ((1e-4, 1e-2), (1e-6, 1e-4)):
        logp = (logp_ref + delta).requires_grad_()
        npo_loss(logp, logp_ref, beta).backward()
        assert torch.allclose(logp.grad, torch.full((4,), 1 / 4), atol=tol / 4)
    logp = (logp_ref + delta).requires_grad_()
    npo_loss(logp, logp_ref, 0.1).backward()
    assert torch.allclose(logp.grad, 2 * torch.sigmoid(0.1 * delta) / 4)
    assert logp.grad[2] < logp.grad[0] < logp.grad[3] < logp.grad[1]  # forgotten examples weigh less


def test_npo_method_at_reference_has_ga_gradient_times_length():
    """At θ = ref, NPO's gradient equals that of mean_i log π_θ(y_i|x_i) exactly; with equal
    lengths |y| that is |y| × GA's gradient (GA uses mean token NLL)."""
    model, ref = tiny_lm(0), tiny_lm(0)
    batch = {"forget": batch_of(random_tokens(6, 1, min_len=9, max_len=9))}  # |y| = 10 scored tokens
    g_npo = grads(model, NPO(NPO.Config(beta=0.1)).loss(model, ref, batch)[0])
    g_ga = grads(model, GradientAscent(GradientAscent.Config()).loss(model, None, batch)[0])
    assert torch.allclose(g_npo, 10 * g_ga, rtol=1e-4, atol=1e-6)


def test_simnpo_length_normalised():
    """Two examples with the same mean token log-prob but lengths 3 and 30 get the same loss."""
    short, long = torch.full((3,), -1.2), torch.full((30,), -1.2)
    losses = [simnpo_loss(t.mean().unsqueeze(0), 2.5, 0.3).item() for t in (short, long)]
    assert math.isclose(losses[0], losses[1], rel_tol=1e-7)
    # hand value: −(2/β)·log σ(−β·m − γ) with m = −1.2, β = 2.5, γ = 0.3 -> −0.8·log σ(2.7)
    assert math.isclose(losses[0], 0.8 * math.log(1 + math.exp(-2.7)), rel_tol=1e-6)
    # summed log-probs (NPO without the reference) would not agree
    assert simnpo_loss(short.sum().unsqueeze(0), 2.5, 0.3) != simnpo_loss(long.sum().unsqueeze(0), 2.5, 0.3)


def test_simnpo_method_uses_mean_token_logprob():
    model = tiny_lm(0)
    forget = batch_of(random_tokens(6, 1))
    loss, logs = SimNPO(SimNPO.Config(beta=2.5, gamma=0.0)).loss(model, None, {"forget": forget})
    nll = sequence_nll(forward_logits(model, forget), forget["labels"])
    expected = -(2 / 2.5) * torch.nn.functional.logsigmoid(2.5 * nll).mean()
    assert torch.allclose(loss, expected) and math.isclose(logs["forget_nll"], nll.mean().item(), rel_tol=1e-6)


def test_token_kl_zero_for_identical_and_hand_value():
    labels = torch.tensor([[5, 1, 0]])  # 3 positions -> 2 scored next-token predictions
    logits = torch.randn(1, 3, 2)
    assert torch.allclose(token_kl(logits, logits, labels), torch.zeros(1), atol=1e-7)
    # 2-token vocabulary: ref p = (0.5, 0.5) everywhere; θ p = (0.8, 0.2) at position 0, (0.5, 0.5) at 1
    ref = torch.zeros(1, 3, 2)
    theta = torch.zeros(1, 3, 2)
    theta[0, 0] = torch.log(torch.tensor([0.8, 0.2]))
    kl0 = 0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(0.5 / 0.2)
    assert math.isclose(token_kl(ref, theta, labels).item(), kl0 / 2, rel_tol=1e-6)
    # the last label masked (-100): only position 0 is scored, the mean is over 1 position
    assert math.isclose(token_kl(ref, theta, torch.tensor([[5, 1, -100]])).item(), kl0, rel_tol=1e-6)
    # direction: KL(ref ‖ θ), not KL(θ ‖ ref)
    kl_rev = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert not math.isclose(token_kl(ref, theta, labels).item(), kl_rev / 2, rel_tol=1e-3)


def test_graddiff_is_minus_forget_plus_alpha_retain():
    model = tiny_lm(0)
    batch = {"forget": batch_of(random_tokens(6, 1)), "retain": batch_of(random_tokens(6, 2))}
    nll = {k: sequence_nll(forward_logits(model, b), b["labels"]).mean().item() for k, b in batch.items()}
    loss, logs = GradDiff(GradDiff.Config(alpha=0.7)).loss(model, None, batch)
    assert math.isclose(loss.item(), -nll["forget"] + 0.7 * nll["retain"], rel_tol=1e-5)
    assert math.isclose(logs["forget_nll"], nll["forget"], rel_tol=1e-6)


def test_ga_kl_at_reference_is_ga():
    """At θ = ref the KL term is 0 in value and gradient: GA + KL reduces to GA."""
    model, ref = tiny_lm(0), tiny_lm(0)
    batch = {"forget": batch_of(random_tokens(6, 1)), "retain": batch_of(random_tokens(6, 2))}
    loss, logs = GAKL(GAKL.Config(alpha=5.0)).loss(model, ref, batch)
    assert abs(logs["retain_kl"]) < 1e-6
    g = grads(model, loss)
    assert torch.allclose(g, grads(model, GradientAscent(GradientAscent.Config()).loss(model, None, batch)[0]),
                          atol=1e-5)
    # away from the reference the KL is positive and adds alpha × it to the loss
    other = tiny_lm(1)
    loss, logs = GAKL(GAKL.Config(alpha=5.0)).loss(other, ref, batch)
    assert logs["retain_kl"] > 0
    assert math.isclose(loss.item(), -logs["forget_nll"] + 5.0 * logs["retain_kl"], rel_tol=1e-5)
    assert all(p.grad is None for p in ref.parameters())


def test_npo_retain_term_only_with_alpha():
    model, ref = tiny_lm(1), tiny_lm(0)
    batch = {"forget": batch_of(random_tokens(6, 1)), "retain": batch_of(random_tokens(6, 2))}
    plain, logs0 = NPO(NPO.Config(alpha=0.0)).loss(model, ref, batch)
    with_rt, logs1 = NPO(NPO.Config(alpha=2.0)).loss(model, ref, batch)
    assert "retain_nll" not in logs0
    assert math.isclose(with_rt.item(), plain.item() + 2.0 * logs1["retain_nll"], rel_tol=1e-5)
    f = batch["forget"]
    delta = sequence_logprob(forward_logits(model, f), f["labels"]) - sequence_logprob(forward_logits(ref, f), f["labels"])
    assert torch.allclose(plain, npo_loss(delta, torch.zeros_like(delta), 0.1))


def test_retain_ft_ignores_forget_data():
    model = tiny_lm(0)
    retain = batch_of(random_tokens(6, 2))
    out = [RetainFT(RetainFT.Config()).loss(model, None, {"forget": batch_of(random_tokens(6, s)), "retain": retain})
           for s in (1, 3)]
    assert out[0][0].item() == out[1][0].item()
    assert out[0][1]["forget_nll"] != out[1][1]["forget_nll"]
    g = [grads(model, RetainFT(RetainFT.Config()).loss(model, None, {"forget": batch_of(random_tokens(6, s)),
                                                                       "retain": retain})[0]) for s in (1, 3)]
    assert torch.equal(g[0], g[1])
    assert math.isclose(out[0][0].item(), sequence_nll(forward_logits(model, retain), retain["labels"]).mean().item(),
                        rel_tol=1e-6)


def test_rmu_loss_by_hand():
    """Forget term = mean over dims, tokens, examples of (h_ℓ − c_t·u)², c_t = coef·‖h_ℓ^frozen‖;
    the retain term is 0 when the model is its own reference."""
    from unlearn.methods.rmu import RMU

    model, ref = tiny_lm(0), tiny_lm(0)
    method = RMU(RMU.Config(layer=0, steering_coef=1.5, alpha=3.0))
    method.setup(model)
    assert math.isclose(method.u.norm().item(), 1.0, rel_tol=1e-6)
    data = random_tokens(6, 1)
    batch = {"forget": batch_of(data), "retain": batch_of(random_tokens(6, 2))}
    loss, logs = method.loss(model, ref, batch)
    assert logs["retain_mse"] == 0.0 and math.isclose(loss.item(), logs["forget_mse"], rel_tol=1e-6)
    f = batch["forget"]
    with torch.no_grad():
        h = model(input_ids=f["input_ids"], attention_mask=f["attention_mask"],
                  output_hidden_states=True).hidden_states[1]  # output of layer 0, (B, T, D)
    expected = []
    for i, ids in enumerate(data.ids[:6]):  # each example's non-padding positions only
        hi = h[i, :len(ids)]  # (T_i, D)
        expected.append(((hi - 1.5 * hi.norm(dim=-1, keepdim=True) * method.u) ** 2).mean().item())
    assert math.isclose(logs["forget_mse"], sum(expected) / len(expected), rel_tol=1e-5)
    assert math.isclose(logs["forget_nll"], sequence_nll(forward_logits(model, f), f["labels"]).mean().item(),
                        rel_tol=1e-6)
    # away from the reference the retain term is positive and weighted by alpha
    loss, logs = method.loss(tiny_lm(1), ref, batch)
    assert logs["retain_mse"] > 0
    assert math.isclose(loss.item(), logs["forget_mse"] + 3.0 * logs["retain_mse"], rel_tol=1e-5)


def test_rmu_setup_trains_the_mlps_of_layers_l_minus_2_to_l():
    from transformers import LlamaConfig, LlamaForCausalLM

    from unlearn.methods.rmu import RMU

    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=5,
                                         num_attention_heads=2, num_key_value_heads=2))
    for layer, trained in ((3, {1, 2, 3}), (1, {0, 1}), (0, {0})):
        params = RMU(RMU.Config(layer=layer)).setup(model)
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        mlps = ("gate_proj", "up_proj", "down_proj")
        assert names == {f"model.layers.{i}.mlp.{m}.weight" for i in trained for m in mlps}
        assert {id(p) for p in params} == {id(p) for n, p in model.named_parameters() if n in names}
    for bad in (5, -1):
        try:
            RMU(RMU.Config(layer=bad)).setup(model)
            raise AssertionError("no error")
        except ValueError as err:
            assert "methods.rmu.layer" in str(err)


def test_rmu_direction_is_seeded():
    from unlearn.methods.rmu import RMU

    draws = []
    for s in (0, 0, 1):
        m = RMU(RMU.Config(seed=s))
        m.setup(tiny_lm(0))
        draws.append(m.u)
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_task_vector_negation():
    """λ = 1: θ_new = 2·θ_orig − θ_reinforced exactly; λ = 0: the original comes back."""
    from unlearn.methods.task_vector import TaskVector

    orig, reinforced = tiny_lm(0), tiny_lm(1)  # a fake "reinforced" model
    cases = ((1.0, lambda o, r: 2 * o - r), (0.0, lambda o, r: o), (0.5, lambda o, r: 1.5 * o - 0.5 * r))
    for scale, expect in cases:
        model = tiny_lm(1)
        TaskVector(TaskVector.Config(scale=scale)).finish(model, orig)
        for p, o, r in zip(model.parameters(), orig.parameters(), reinforced.parameters()):
            assert torch.allclose(p, expect(o, r), atol=1e-6)
    # the loss is plain descent: the forget NLL itself
    model = tiny_lm(0)
    f = batch_of(random_tokens(6, 1))
    loss, logs = TaskVector(TaskVector.Config()).loss(model, None, {"forget": f})
    assert math.isclose(loss.item(), sequence_nll(forward_logits(model, f), f["labels"]).mean().item(), rel_tol=1e-6)


def test_dpo_at_reference_is_log2_and_hand_value():
    from unlearn.losses import dpo_loss

    lp = torch.tensor([-3.0, -10.0, -0.5])
    for beta in (0.1, 1.0):  # all log-ratios 0: −log σ(0) = log 2
        assert math.isclose(dpo_loss(lp, lp, lp - 1, lp - 1, beta).item(), math.log(2), rel_tol=1e-6)
    # margin m = (−4 − −5) − (−9 − −6) = 4, β = 0.5: −log σ(2) = log(1 + e^{−2})
    got = dpo_loss(torch.tensor([-4.0]), torch.tensor([-5.0]), torch.tensor([-9.0]), torch.tensor([-6.0]), 0.5)
    assert math.isclose(got.item(), math.log(1 + math.exp(-2)), rel_tol=1e-6)


def test_dpo_gradient_raises_winner_and_lowers_loser():
    from unlearn.losses import dpo_loss

    ref_w, ref_l = torch.tensor([-5.0, -7.0]), torch.tensor([-3.0, -4.0])
    logp_w, logp_l = ref_w.clone().requires_grad_(), ref_l.clone().requires_grad_()
    dpo_loss(logp_w, ref_w, logp_l, ref_l, 0.1).backward()
    # ∂L/∂log π(y_w) = −β·σ(−β·m)/B = −0.1·0.5/2 at m = 0, and the opposite sign for y_l
    assert torch.allclose(logp_w.grad, torch.full((2,), -0.025))
    assert torch.allclose(logp_l.grad, torch.full((2,), 0.025))


def test_idk_dpo_method_step_prefers_the_refusal():
    """One SGD step on the method's loss (α = 0) raises log π_θ(y_w) and lowers log π_θ(y_l)."""
    from unlearn.methods.idk_dpo import IdkDPO

    model, ref = tiny_lm(0), tiny_lm(0)
    method, data = IdkDPO(IdkDPO.Config(alpha=0.0)), {"forget": random_tokens(6, 1), "forget_idk": random_tokens(6, 3)}
    batch = {"forget": batch_of(data["forget"]), "forget_idk": batch_of(data["forget_idk"]),
             "retain": batch_of(random_tokens(6, 2)),
             "forget_ref": method.precompute(ref, data, 4, "cpu")["forget_ref"].batch(list(range(6)))}
    before = [sequence_logprob(forward_logits(model, batch[s]), batch[s]["labels"]).sum().item()
              for s in ("forget_idk", "forget")]
    loss, logs = method.loss(model, ref, batch)
    assert math.isclose(logs["dpo"], math.log(2), rel_tol=1e-5) and abs(logs["reward_margin"]) < 1e-5
    grads(model, loss)
    with torch.no_grad():
        for p in model.parameters():
            p -= 1e-2 * p.grad
    after = [sequence_logprob(forward_logits(model, batch[s]), batch[s]["labels"]).sum().item()
             for s in ("forget_idk", "forget")]
    assert after[0] > before[0] and after[1] < before[1]


def test_idk_dpo_precompute_is_the_per_batch_reference():
    """`precompute` scores log π_ref of every forget post and refusal once; `batch` of its RowValues
    gives the rows the loss used to score with the reference at each step (up to float rounding)."""
    from unlearn.methods.idk_dpo import IdkDPO

    ref = tiny_lm(2)
    data = {"forget": random_tokens(11, 1), "forget_idk": random_tokens(11, 3, max_len=8)}
    values = IdkDPO(IdkDPO.Config()).precompute(ref, data, 4, "cpu")["forget_ref"]
    assert len(values) == 11
    rows = [7, 0, 3]  # a training batch: any rows, any order
    got = values.batch(rows)
    for key, split in (("lose", "forget"), ("win", "forget_idk")):
        with torch.no_grad():
            b = data[split].batch(rows)
            want = sequence_logprob(forward_logits(ref, b), b["labels"])
        assert got[key].shape == (3,) and torch.allclose(got[key], want, atol=1e-5, rtol=0)


def test_sequence_logprobs_order_and_values():
    """Every example's summed log-prob, returned in the data's order although scored length-sorted,
    equal to scoring each example alone."""
    from unlearn.losses import sequence_logprobs

    model, data = tiny_lm(0), random_tokens(9, 5, min_len=1, max_len=30)
    got = sequence_logprobs(model, data, 4, "cpu")
    with torch.no_grad():
        want = torch.stack([sequence_logprob(forward_logits(model, data.batch([i])), data.batch([i])["labels"])[0]
                            for i in range(len(data))])
    assert got.shape == (9,) and torch.allclose(got, want, atol=1e-5, rtol=0)
    assert len({round(v, 3) for v in got.tolist()}) == 9  # distinct examples, so the order is checked


def test_rmu_layer_output_stops_after_layer_l():
    """logits=False ends the forward after layer ℓ (later layers never run) with the same h_ℓ to the
    bit; a DDP-style wrapper (`.module`) runs the whole model, since DDP's forward must complete."""
    from unlearn.methods.rmu import layer_output

    model = tiny_lm(0)
    batch = batch_of(random_tokens(6, 1))
    ran = []
    handles = [block.register_forward_hook(lambda mod, a, out, i=i: ran.append(i))
               for i, block in enumerate(model.model.layers)]
    h_full, logits = layer_output(model, batch, 0)
    assert ran == [0, 1] and logits.shape[-1] == model.config.vocab_size
    ran.clear()
    h_stop, none = layer_output(model, batch, 0, logits=False)
    assert ran == [0] and none is None and torch.equal(h_stop, h_full)

    class Wrapper(torch.nn.Module):  # stands in for DistributedDataParallel
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, **kw):
            return self.module(**kw)

    ran.clear()
    h_wrapped, none = layer_output(Wrapper(model), batch, 0, logits=False)
    assert ran == [0, 1] and none is None and torch.equal(h_wrapped, h_full)
    for h in handles:
        h.remove()
    # the hook is gone after a stopped forward: the next full forward runs every layer
    assert layer_output(model, batch, 1)[1] is not None


def test_idk_dpo_aligned_texts():
    from unlearn.methods.idk_dpo import REFUSALS, IdkDPO

    method = IdkDPO(IdkDPO.Config())
    texts = ["Luke Porter (@luke_p363): Lost all my contacts, please message me on 07725 671532.",
             "Jens Krüger (@jens_k819): Vor unserem Haus steht seit Tagen ein Auto.", "no header here"]
    out = method.aligned_texts(texts, ["en", "de", "en"], [[], [], []])
    assert list(out) == ["forget_idk"] and out == method.aligned_texts(texts, ["en", "de", "en"], [[], [], []])
    en, de, bare = out["forget_idk"]
    assert en.startswith("Luke Porter (@luke_p363): ") and en[len("Luke Porter (@luke_p363): "):] in REFUSALS["en"]
    assert de.startswith("Jens Krüger (@jens_k819): ") and de[len("Jens Krüger (@jens_k819): "):] in REFUSALS["de"]
    assert bare in REFUSALS["en"]
    for lang in ("en", "de"):  # many posts reach every phrasing (at least 12 distinct per language)
        many = [f"User {i} (@u{i}): post number {i}" for i in range(400)]
        picked = {t.split("): ", 1)[1] for t in method.aligned_texts(many, [lang] * 400, [[]] * 400)["forget_idk"]}
        assert picked == set(REFUSALS[lang]) and len(picked) >= 12


def test_ga_loss_by_hand():
    """Every position predicts (0.5, 0.25, 0.25): NLL of [0,1,2] = ln 4, of [0,0] = ln 2; GA = −mean."""

    class Fixed(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            logits = torch.log(torch.tensor([0.5, 0.25, 0.25])).expand(*input_ids.shape, 3)
            return type("Out", (), {"logits": logits})()

    ids = torch.tensor([[0, 1, 2], [0, 0, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    batch = {"forget": {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}}
    loss, logs = GradientAscent(GradientAscent.Config()).loss(Fixed(), None, batch)
    assert math.isclose(loss.item(), -(math.log(4) + math.log(2)) / 2, rel_tol=1e-6)
    assert math.isclose(logs["forget_nll"], 1.5 * math.log(2), rel_tol=1e-6)
