"""Discriminator losses and reward of AMP and ADD, as pure functions of logits, inputs and weights.

Positives are what the discriminator should call "demonstration": AMP's normalised demo disc obs; ADD's
all-zero difference (a batch of one). Negatives are the agent's: AMP's normalised agent disc obs (rollout and
replay), ADD's normalised demo - agent differences (rollout and replay). `compute_disc_objective` puts the
terms together the same way for both methods.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mimickit.models.discriminator import Discriminator


def compute_disc_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """0.5 * [BCE(pos, 1) + BCE(neg, 0)] on logits (not LSGAN); each side is averaged over its own samples,
    so the two sides weigh the same however many samples each has."""
    pos_loss = F.binary_cross_entropy_with_logits(pos_logits, torch.ones_like(pos_logits))
    neg_loss = F.binary_cross_entropy_with_logits(neg_logits, torch.zeros_like(neg_logits))
    return 0.5 * (pos_loss + neg_loss)


def compute_grad_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """mean_i ||d logit_i / d input_i||^2 over the (B, ...) `inputs`, which must require grad and have
    produced `logits` (B,). The graph is kept (create_graph), so the penalty trains the discriminator.

    Differentiates sum(logits): each logit depends on its own row only (no batch norm in the discriminator).
    """
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.flatten(1).square().sum(dim=1).mean()


def compute_logit_reg(weights: torch.Tensor) -> torch.Tensor:
    """Sum of squares of the logit layer's weights: keeps the logits from growing without bound."""
    return weights.square().sum()


def compute_disc_reward(logits: torch.Tensor, scale: float, min_prob: float = 1e-4) -> torch.Tensor:
    """MimicKit's -log(max(1 - sigmoid(logit), min_prob)) * scale, in [0, -log(min_prob) * scale], increasing
    in the logit. Written as min(softplus(logit), -log(min_prob)), which is the same function without
    float32's cancellation in 1 - sigmoid. Call it under no_grad: it is a reward, not a loss."""
    return torch.clamp_max(F.softplus(logits), -math.log(min_prob)) * scale


def compute_side_accuracies(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The positives' share with logit > 0 and the negatives' share with logit < 0."""
    return (pos_logits > 0).float().mean(), (neg_logits < 0).float().mean()


def compute_disc_accuracy(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """Balanced accuracy: the mean of the two sides' accuracies, so it is 0.5 for a discriminator that cannot tell
    them apart however many samples each side has."""
    pos_accuracy, neg_accuracy = compute_side_accuracies(pos_logits, neg_logits)
    return 0.5 * (pos_accuracy + neg_accuracy)


def compute_disc_objective(
    disc: Discriminator,
    pos_inputs: torch.Tensor,
    neg_inputs: torch.Tensor,
    grad_penalty_weight: float,
    logit_reg_weight: float,
    num_current: int | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss one discriminator step minimises, and detached diagnostics for logging:

    BCE(pos, neg) + grad_penalty_weight * 0.5 * (gp(pos) + gp(neg)) + logit_reg_weight * sum(w_logit^2).

    AMP: pos = normalised demo obs, neg = normalised agent obs (rollout and replay together).
    ADD: pos = zeros(1, dim), neg = normalised demo - agent (rollout and replay together).
    Inputs are taken as constants (detached); weight decay belongs to the optimiser. The accuracies are measured
    against the first `num_current` negatives (the current policy's; None: all): replayed samples of older
    policies are easier to reject and would hide a discriminator that the policy has caught up with.
    """
    pos = pos_inputs.detach().requires_grad_(True)
    neg = neg_inputs.detach().requires_grad_(True)
    pos_logits = disc(pos)
    neg_logits = disc(neg)
    bce = compute_disc_loss(pos_logits, neg_logits)
    grad_penalty = 0.5 * (compute_grad_penalty(pos_logits, pos) + compute_grad_penalty(neg_logits, neg))
    logit_reg = compute_logit_reg(disc.logit_weights())
    loss = bce + grad_penalty_weight * grad_penalty + logit_reg_weight * logit_reg
    demo_accuracy, policy_accuracy = compute_side_accuracies(pos_logits, neg_logits[:num_current])
    diagnostics = {
        "disc_loss": loss,
        "disc_bce": bce,
        "disc_grad_penalty": grad_penalty,
        "disc_logit_reg": logit_reg,
        "disc_accuracy": 0.5 * (demo_accuracy + policy_accuracy),
        "disc_demo_accuracy": demo_accuracy,
        "disc_policy_accuracy": policy_accuracy,
        "disc_pos_logit": pos_logits.mean(),
        "disc_neg_logit": neg_logits.mean(),
    }
    return loss, {k: v.detach() for k, v in diagnostics.items()}
