import math

import pytest
import torch
from torch import nn

from mimickit.agents.disc_losses import (
    compute_disc_accuracy,
    compute_disc_loss,
    compute_disc_objective,
    compute_disc_reward,
    compute_grad_penalty,
    compute_logit_reg,
)
from mimickit.models.discriminator import Discriminator


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_disc_loss_is_half_the_two_mean_bces():
    pos = torch.tensor([0.0, 2.0])
    neg = torch.tensor([-1.0, 3.0, 0.5])
    # BCE(x, 1) = softplus(-x); BCE(x, 0) = softplus(x)
    pos_bce = (_softplus(-0.0) + _softplus(-2.0)) / 2
    neg_bce = (_softplus(-1.0) + _softplus(3.0) + _softplus(0.5)) / 3
    torch.testing.assert_close(compute_disc_loss(pos, neg), torch.tensor(0.5 * (pos_bce + neg_bce)))


def test_grad_penalty_of_a_linear_disc_is_squared_weight_norm():
    w = torch.tensor([1.0, -2.0, 3.0])
    x = torch.randn(6, 3, requires_grad=True)
    logits = x @ w + 0.7
    torch.testing.assert_close(compute_grad_penalty(logits, x), torch.tensor(14.0))


def test_grad_penalty_of_an_mlp_matches_per_sample_gradients():
    torch.manual_seed(0)
    disc = Discriminator(4, hidden_dims=[16, 8], activation="tanh", init_output_scale=1.0).double()
    x = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    gp = compute_grad_penalty(disc(x), x)
    # d D(x_i) / d x_i one sample at a time with torch.func, and by central differences
    grads = torch.func.vmap(torch.func.grad(lambda xi: disc(xi[None])[0]))(x.detach())
    torch.testing.assert_close(gp, grads.square().sum(1).mean())
    eps, x0 = 1e-6, x.detach()
    fd = torch.stack([(disc(x0 + eps * e) - disc(x0 - eps * e)) / (2 * eps) for e in torch.eye(4).double()], dim=1)
    torch.testing.assert_close(gp, fd.square().sum(1).mean(), rtol=1e-6, atol=1e-8)


def test_grad_penalty_gradient_reaches_every_weight():
    torch.manual_seed(0)
    disc = Discriminator(4, hidden_dims=[16, 8], activation="relu", init_output_scale=1.0)
    x = torch.randn(32, 4, requires_grad=True)
    compute_grad_penalty(disc(x), x).backward()
    for m in disc.modules():
        if isinstance(m, nn.Linear):
            assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0


def test_grad_penalty_needs_inputs_that_require_grad():
    x = torch.randn(3, 2)
    with pytest.raises(RuntimeError):
        compute_grad_penalty(x.sum(1).requires_grad_(), x)


def test_logit_reg_is_sum_of_squares():
    assert compute_logit_reg(torch.tensor([[1.0, -2.0, 0.5]])) == 5.25


def test_reward_equals_mimickit_formula_within_range_and_increasing():
    logits = torch.linspace(-30.0, 30.0, 2001)
    scale = 2.0
    reward = compute_disc_reward(logits, scale)
    reference = -torch.log(torch.clamp_min(1 - torch.sigmoid(logits.double()), 1e-4)) * scale
    torch.testing.assert_close(reward, reference.float(), rtol=1e-5, atol=1e-6)
    assert reward.min() >= 0 and reward[0] < 1e-10
    torch.testing.assert_close(reward.max(), torch.tensor(-math.log(1e-4) * scale))
    assert torch.all(reward[1:] >= reward[:-1])
    assert torch.isclose(compute_disc_reward(torch.zeros(1), scale), torch.tensor(math.log(2) * scale))


def test_accuracy_weighs_both_sides_equally():
    pos = torch.tensor([1.0, -1.0, 2.0, 3.0])  # three of four right
    neg = torch.tensor([-2.0, 0.0])  # one of two right; a logit of exactly 0 counts as wrong
    assert compute_disc_accuracy(pos, neg) == 0.5 * (0.75 + 0.5)


def test_accuracy_is_measured_on_the_current_policys_negatives():
    disc = Discriminator(1, hidden_dims=[4], activation="relu", init_output_scale=1.0)
    with torch.no_grad():
        for param in disc.parameters():
            param.zero_()
        disc.net[-1].bias.fill_(-1.0)  # a constant logit of -1: every positive wrong, every negative right
    _, diag = compute_disc_objective(disc, torch.zeros(3, 1), torch.zeros(8, 1), 0.0, 0.0, num_current=2)
    assert diag["disc_demo_accuracy"] == 0.0 and diag["disc_policy_accuracy"] == 1.0
    assert diag["disc_accuracy"] == 0.5


def test_objective_combines_terms_with_mimickit_weights():
    torch.manual_seed(0)
    disc = Discriminator(3, hidden_dims=[8], activation="relu", init_output_scale=1.0)
    pos, neg = torch.randn(5, 3), torch.randn(7, 3)
    loss, diag = compute_disc_objective(disc, pos, neg, grad_penalty_weight=5.0, logit_reg_weight=0.01)
    expected = diag["disc_bce"] + 5.0 * diag["disc_grad_penalty"] + 0.01 * diag["disc_logit_reg"]
    torch.testing.assert_close(loss.detach(), expected)
    xp, xn = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    gp = 0.5 * (compute_grad_penalty(disc(xp), xp) + compute_grad_penalty(disc(xn), xn))
    torch.testing.assert_close(diag["disc_grad_penalty"], gp.detach())
    assert all(not v.requires_grad for v in diag.values())
    loss.backward()
    assert disc.logit_weights().grad is not None and pos.grad is None  # inputs are treated as constants


def test_objective_accepts_adds_single_zero_positive():
    disc = Discriminator(3, hidden_dims=[8], activation="relu", init_output_scale=1.0)
    loss, diag = compute_disc_objective(disc, torch.zeros(1, 3), torch.randn(6, 3), 2.0, 0.01)
    assert loss.isfinite() and diag["disc_pos_logit"].shape == ()
