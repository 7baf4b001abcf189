"""Advantage-Weighted Regression (Peng et al. 2019) on the shared loop: the critic regresses TD(lambda)
returns, the actor maximises exp(A / temperature)-weighted log-likelihood of its own actions."""
from __future__ import annotations

from typing import Any

import torch

from mimickit.agents.agent import Agent
from mimickit.agents.losses import compute_normalized_advantages
from mimickit.agents.storage import Batch
from mimickit.envs.base_env import BaseEnv
from mimickit.loggers.base import Logger


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
        logger: Logger | None = None,
        out_dir: str = ".",
        device: str = "cpu",
        model: dict[str, Any] | None = None,
        actor_optimizer: Any = None,
        critic_optimizer: Any = None,
        discount: float = 0.99,
        td_lambda: float = 0.95,
        steps_per_iter: int = 32,
        iters_per_output: int = 100,
        test_episodes: int = 32,
        normalizer_samples: int | None = 100_000_000,
        obs_clip: float | None = 10.0,
        actor_epochs: int = 5,
        actor_batch_size: float = 4.0,
        critic_epochs: int = 2,
        critic_batch_size: float = 2.0,
        grad_clip: float | None = None,
        value_clip: float | None = None,
        action_bound_weight: float = 10.0,
        entropy_weight: float = 0.0,
        save_intermediate: bool = False,
        resume_from: str | None = None,
        temperature: float = 1.0,
        weight_clip: float = 20.0,
        normalize_advantages: bool = True,
    ):
        """The shared loop's settings are documented in `Agent`.

        Args:
            temperature: beta of exp(A / beta); in units of the advantage std when `normalize_advantages`.
            weight_clip: maximum weight of one sample.
            normalize_advantages: standardise advantages over the rollout before weighting (as MimicKit).
        """
        super().__init__(
            env=env,
            logger=logger,
            out_dir=out_dir,
            device=device,
            model=model,
            actor_optimizer=actor_optimizer,
            critic_optimizer=critic_optimizer,
            discount=discount,
            td_lambda=td_lambda,
            steps_per_iter=steps_per_iter,
            iters_per_output=iters_per_output,
            test_episodes=test_episodes,
            normalizer_samples=normalizer_samples,
            obs_clip=obs_clip,
            actor_epochs=actor_epochs,
            actor_batch_size=actor_batch_size,
            critic_epochs=critic_epochs,
            critic_batch_size=critic_batch_size,
            grad_clip=grad_clip,
            value_clip=value_clip,
            action_bound_weight=action_bound_weight,
            entropy_weight=entropy_weight,
            save_intermediate=save_intermediate,
            resume_from=resume_from,
        )
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
        dist = self.model.action_distribution(self.obs_normalizer.normalize(batch.obs))
        weights = compute_awr_weights(batch.advantage, self.temperature, self.weight_clip)
        awr_loss = compute_awr_actor_loss(dist.log_prob(batch.action), weights)
        reg = self.actor_regularization(dist)
        return {"loss": awr_loss + reg.pop("loss"), "awr_loss": awr_loss.detach(), **reg}
