"""Advantage-Weighted Regression (Peng et al. 2019) on the shared loop: the critic regresses TD(lambda)
returns, the actor maximises exp(A / temperature)-weighted log-likelihood of its own actions."""
from __future__ import annotations

from typing import Any

import torch

from mimickit.agents.agent import Agent
from mimickit.agents.losses import compute_normalized_advantages
from mimickit.agents.storage import Batch
from mimickit.envs.base_env import BaseEnv


def compute_awr_weights(advantages: torch.Tensor, temperature: float, weight_clip: float) -> torch.Tensor:
    """w = min(exp(A / temperature), weight_clip): the clip bounds the update when a few advantages dominate."""
    return torch.clamp_max(torch.exp(advantages / temperature), weight_clip)


def compute_awr_actor_loss(log_prob: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """L = -mean(w * log pi(a|s)): weighted maximum likelihood on the sampled actions."""
    return -(weights * log_prob).mean()


class AWRAgent(Agent):
    def __init__(
        self,
        env: BaseEnv,
        *,
        temperature: float,
        weight_clip: float,
        normalize_advantages: bool,
        **agent_kwargs: Any,
    ):
        """`agent_kwargs` are the shared loop's settings, documented in `Agent`.

        Args:
            temperature: beta of exp(A / beta); in units of the advantage std when `normalize_advantages`.
            weight_clip: maximum weight of one sample.
            normalize_advantages: standardise advantages over the rollout before weighting (as MimicKit).
        """
        super().__init__(env, **agent_kwargs)
        if temperature <= 0 or weight_clip <= 0:
            raise ValueError(f"temperature and weight_clip must be positive, got {temperature}, {weight_clip}")
        self.temperature = temperature
        self.weight_clip = weight_clip
        self.normalize_advantages = normalize_advantages

    def prepare_advantages(self, advantages: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.normalize_advantages:
            prepared, mean, std = compute_normalized_advantages(advantages)
        else:
            prepared, mean, std = advantages, advantages.mean(), advantages.std(unbiased=False)
        self.storage.advantage.copy_(prepared)
        weights = compute_awr_weights(prepared, self.temperature, self.weight_clip)
        return {
            "advantage/mean": mean,
            "advantage/std": std,
            "awr/weight_mean": weights.mean(),
            "awr/weight_max": weights.max(),
            "awr/clipped_frac": (weights >= self.weight_clip).float().mean(),
        }

    def compute_actor_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        dist = self.model.action_distribution(self.model_input(batch.obs, batch.extras))
        weights = compute_awr_weights(batch.advantage, self.temperature, self.weight_clip)
        awr_loss = compute_awr_actor_loss(dist.log_prob(batch.action), weights)
        reg = self.actor_regularization(dist)
        return {"loss": awr_loss + reg.pop("loss"), "awr_loss": awr_loss.detach(), **reg}
