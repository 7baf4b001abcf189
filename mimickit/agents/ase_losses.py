"""ASE's latents, encoder reward and loss, and diversity objective, as pure functions of tensors (MimicKit's
`ase_agent.py`).

Latents z are unit vectors in R^latent_dim (uniform on the hypersphere). The encoder q(s) is a unit vector too, so
z . q(s) is the cosine between them: the log-density of a von Mises-Fisher distribution centred on q(s), up to a
constant and the concentration.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def sample_latents(n: int, latent_dim: int, device: torch.device | str,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, latent_dim) latents uniform on the unit hypersphere: normalised standard normal draws."""
    return F.normalize(torch.randn(n, latent_dim, device=device, generator=generator), dim=-1)


# a hold of exactly k control steps' time is k steps, whatever float rounding does to seconds / dt
_STEP_TOLERANCE = 1e-4


def compute_latent_hold_steps(u: torch.Tensor, time_min: float, time_max: float, dt: float) -> torch.Tensor:
    """Control steps a latent is held before it is resampled, from uniform draws u in [0, 1): MimicKit resamples once
    the env time reaches sample time + U[time_min, time_max] seconds, checked after each step, so the hold is
    ceil(U / dt) steps, at least 1. Returns a long tensor shaped like u."""
    seconds = time_min + (time_max - time_min) * u
    return torch.ceil(seconds / dt - _STEP_TOLERANCE).long().clamp_min_(1)


def latent_hold_step_range(time_min: float, time_max: float, dt: float) -> tuple[int, int]:
    """The fewest and most steps `compute_latent_hold_steps` gives (tests and docs)."""
    steps = [max(1, math.ceil(t / dt - _STEP_TOLERANCE)) for t in (time_min, time_max)]
    return steps[0], steps[1]


def compute_enc_reward(latents: torch.Tensor, enc_pred: torch.Tensor) -> torch.Tensor:
    """max(z . q(s'), 0) per sample, (B, D) x (B, D) -> (B,): how well the encoder recognises the skill in the
    discriminator observation after the step. Call it under no_grad: it is a reward, not a loss."""
    return torch.clamp_min((latents * enc_pred).sum(dim=-1), 0.0)


def compute_enc_loss(latents: torch.Tensor, enc_pred: torch.Tensor) -> torch.Tensor:
    """mean(-z . q(s)): the encoder's negative vMF log-likelihood of the latent each sample was taken with."""
    return -(latents * enc_pred).sum(dim=-1).mean()


def compute_diversity_loss(
    mean: torch.Tensor,
    new_mean: torch.Tensor,
    latents: torch.Tensor,
    new_latents: torch.Tensor,
    target: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ASE's diversity objective on policy means in normalised action units, (B, A) each, for the sample's latent z
    and a fresh one z' (B, D) each:

        a_diff = mean_actions (mu(s, z') - mu(s, z))^2,  z_diff = 0.5 - 0.5 z' . z  (in [0, 1]),
        loss = mean_B (target - a_diff / (z_diff + 1e-5))^2.

    Pushes the change of action per change of latent towards `target`, so different latents act differently.
    Returns the loss and the mean ratio a_diff / (z_diff + 1e-5) (detached, for logging)."""
    a_diff = (new_mean - mean).square().mean(dim=-1)
    z_diff = 0.5 - 0.5 * (new_latents * latents).sum(dim=-1)
    ratio = a_diff / (z_diff + 1e-5)
    return (target - ratio).square().mean(), ratio.mean().detach()
