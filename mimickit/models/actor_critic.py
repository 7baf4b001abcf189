"""Gaussian actor and value critic, both MLPs on normalised observations; actions live in [-1, 1] units."""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mimickit.models.mlp import MLP

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass
class DiagGaussian:
    """A diagonal Gaussian over actions; `log_std` broadcasts against `mean` (B, action_dim)."""

    mean: torch.Tensor
    log_std: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        return self.log_std.exp().expand_as(self.mean)

    @property
    def mode(self) -> torch.Tensor:
        return self.mean

    def sample(self) -> torch.Tensor:
        return self.mean + self.std * torch.randn_like(self.mean)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """(B,) log density, summed over action dimensions."""
        z = (actions - self.mean) * torch.exp(-self.log_std)
        return (-0.5 * z.square() - self.log_std - _LOG_SQRT_2PI).sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        """(B,)"""
        return (0.5 + _LOG_SQRT_2PI + self.log_std).expand_as(self.mean).sum(dim=-1)


class GaussianActor(nn.Module):
    """Mean from an MLP; a state-independent log-std, learned or fixed at `init_std`."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int],
        activation: str,
        init_std: float,
        learn_std: bool,
        output_init_scale: float | None,
    ):
        super().__init__()
        if init_std <= 0:
            raise ValueError(f"init_std must be positive, got {init_std}")
        self.mean_net = MLP(obs_dim, action_dim, hidden_dims, activation, output_init_scale)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)), requires_grad=learn_std)

    def forward(self, norm_obs: torch.Tensor) -> DiagGaussian:
        return DiagGaussian(mean=self.mean_net(norm_obs), log_std=self.log_std)


class ActorCritic(nn.Module):
    """The policy and value function the agents train. The agent normalises observations before calling."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        actor_hidden_dims: Sequence[int],
        critic_hidden_dims: Sequence[int],
        activation: str,
        init_std: float,
        learn_std: bool,
        actor_output_scale: float | None,
    ):
        super().__init__()
        self.actor = GaussianActor(
            obs_dim, action_dim, list(actor_hidden_dims), activation, init_std, learn_std, actor_output_scale
        )
        self.critic = MLP(obs_dim, 1, list(critic_hidden_dims), activation)

    def action_distribution(self, norm_obs: torch.Tensor) -> DiagGaussian:
        return self.actor(norm_obs)

    def value(self, norm_obs: torch.Tensor) -> torch.Tensor:
        """(B,)"""
        return self.critic(norm_obs).squeeze(-1)

    def actor_parameters(self) -> Iterator[nn.Parameter]:
        return (p for p in self.actor.parameters() if p.requires_grad)

    def critic_parameters(self) -> Iterator[nn.Parameter]:
        return (p for p in self.critic.parameters() if p.requires_grad)
