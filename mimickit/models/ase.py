"""ASE's networks (Peng et al. 2022; MimicKit's `ase_model.py`): a policy and value function conditioned on a latent
skill code z on the unit hypersphere, and an encoder that recovers z from discriminator observations.

Both the actor and the critic see concat(normalised obs, raw z); the encoder is its own MLP (no layers shared with the
discriminator) on the normalised discriminator observation, its output scaled to unit length.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mimickit.models.actor_critic import ActorCritic, DiagGaussian
from mimickit.models.mlp import MLP


class LatentActorCritic(ActorCritic):
    """`ActorCritic` on (obs_dim + latent_dim) inputs. The agent builds the input with `policy_input(norm_obs, z)`,
    so `action_distribution` and `value` take that concatenation, as every `ActorCritic` takes its input."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        latent_dim: int,
        actor_hidden_dims: Sequence[int],
        critic_hidden_dims: Sequence[int],
        activation: str,
        init_std: float,
        learn_std: bool,
        actor_output_scale: float | None,
    ):
        """latent_dim: size of z (the ASE agent fills it in from its own `latent_dim`); the rest as `ActorCritic`."""
        if latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        super().__init__(obs_dim + latent_dim, action_dim, actor_hidden_dims, critic_hidden_dims, activation, init_std,
                         learn_std, actor_output_scale)
        self.obs_dim = obs_dim
        self.latent_dim = latent_dim

    @staticmethod
    def policy_input(norm_obs: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """(..., obs_dim) normalised observations and (..., latent_dim) unit latents -> the actor's and critic's
        input."""
        return torch.cat([norm_obs, latents], dim=-1)

    def latent_action_distribution(self, norm_obs: torch.Tensor, latents: torch.Tensor) -> DiagGaussian:
        return self.action_distribution(self.policy_input(norm_obs, latents))


class Encoder(nn.Module):
    """q(s): MLP trunk -> Linear(last hidden, latent_dim), scaled to unit length. The output layer starts at
    U(-init_output_scale, init_output_scale) with zero bias (MimicKit: 0.1); the trunk keeps PyTorch's default init."""

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int,
        hidden_dims: Sequence[int],
        activation: str,
        init_output_scale: float,
    ):
        """obs_dim, latent_dim: filled in by the agent (the env's disc_obs_dim, the agent's latent_dim)."""
        super().__init__()
        self.net = MLP(obs_dim, latent_dim, list(hidden_dims), activation, output_init_scale=init_output_scale)

    def forward(self, norm_disc_obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) -> (B, latent_dim) unit vectors."""
        return F.normalize(self.net(norm_disc_obs), dim=-1)
