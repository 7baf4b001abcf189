"""The discriminator family (AMP, ADD, later ASE) on PPO: a discriminator learns to tell demonstration samples
(positives) from the policy's (negatives), and its logits become the policy's style reward.

Everything here goes through the loop's extension points: the discriminator is built from its `_target_`
partial, the rollout stores each step's negative sample (`rollout_extras`), `compute_rewards` mixes the style
reward with the env's (`task_reward_weight * r_env + disc_reward_weight * r_disc`), and the discriminator trains
in its own update phase (`update.disc` in conf/algo). Subclasses say what a sample is: `negative_sample(info)`,
`prepare_positives()` and `positive_batch(batch)`.
"""
from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from mimickit.agents.disc_losses import compute_disc_objective, compute_disc_reward
from mimickit.agents.ppo import PPOAgent
from mimickit.agents.replay_buffer import ReplayBuffer
from mimickit.agents.storage import Batch
from mimickit.config import Partial
from mimickit.envs.base_env import BaseEnv
from mimickit.models.discriminator import Discriminator

NEGATIVE = "disc_negative"  # the storage field of each step's policy sample


class AdversarialAgent(PPOAgent):
    def __init__(
        self,
        env: BaseEnv,
        *,
        discriminator: Partial[Discriminator],
        disc_buffer_size: int,
        disc_replay_samples: int,
        disc_replay_overwrite: str,
        disc_grad_penalty: float,
        disc_logit_reg: float,
        disc_reward_scale: float,
        task_reward_weight: float,
        disc_reward_weight: float,
        **ppo_kwargs: Any,
    ):
        """`ppo_kwargs` are PPO's and the loop's settings (`update` must hold a `disc` phase).

        Args:
            discriminator: builds the `Discriminator` from its input size (`env.disc_obs_dim`).
            disc_buffer_size: policy samples kept in the replay buffer (per worker).
            disc_replay_samples: rollout samples that replace replay entries each iteration once it is full.
            disc_replay_overwrite: which entries they replace, "oldest" (MimicKit's ring) or "random"
                (`ReplayBuffer`).
            disc_grad_penalty: weight of the gradient penalty on the discriminator's inputs.
            disc_logit_reg: weight of the squared logit-layer weights.
            disc_reward_scale: style reward = -log(max(1 - sigmoid(logit), 1e-4)) * disc_reward_scale.
            task_reward_weight, disc_reward_weight: reward = task_w * env reward + disc_w * style reward.
        """
        super().__init__(env, **ppo_kwargs)
        dim = env.disc_obs_dim
        self.discriminator = discriminator(obs_dim=dim).to(self.device)
        self.disc_normalizer = self.make_disc_normalizer(dim).to(self.device)
        self.replay = ReplayBuffer(disc_buffer_size, {NEGATIVE: dim}, disc_replay_samples,
                                   overwrite=disc_replay_overwrite, device=self.device)
        self.disc_grad_penalty = disc_grad_penalty
        self.disc_logit_reg = disc_logit_reg
        self.disc_reward_scale = disc_reward_scale
        self.task_reward_weight = task_reward_weight
        self.disc_reward_weight = disc_reward_weight
        self.storage.declare(NEGATIVE, (dim,))
        self.add_phase("disc", self.compute_disc_loss, self.discriminator.parameters())

    # ------------------------------------------------------------------ what a sample is
    @abc.abstractmethod
    def make_disc_normalizer(self, dim: int) -> nn.Module:
        """The discriminator inputs' normaliser (`record`, `update`, `normalize`)."""

    @abc.abstractmethod
    def negative_sample(self, info: dict[str, torch.Tensor]) -> torch.Tensor:
        """(N, dim) raw policy sample of one env step, from the step's info."""

    @abc.abstractmethod
    def prepare_positives(self) -> None:
        """Gather this iteration's demonstration samples (once per iteration, before rewards and update)."""

    @abc.abstractmethod
    def positive_batch(self, batch: Batch) -> torch.Tensor:
        """Normalised demonstration samples for one discriminator minibatch."""

    # ------------------------------------------------------------------ loop hooks
    def rollout_extras(self, info: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {NEGATIVE: self.negative_sample(info)}

    def compute_rewards(self) -> dict[str, torch.Tensor]:
        """Style reward of every rollout sample from the discriminator and normaliser of before this iteration's
        update, mixed with the env's reward; the rollout's samples then enter the normaliser and the replay."""
        self.prepare_positives()
        negatives = self.storage.flat(NEGATIVE)
        normalized = self.disc_normalizer.normalize(negatives)
        logits = self.discriminator(normalized)
        disc_reward = compute_disc_reward(logits, self.disc_reward_scale).view_as(self.storage.reward)
        reward = self.storage.reward
        reward.copy_(self.task_reward_weight * reward + self.disc_reward_weight * disc_reward)
        self.disc_normalizer.record(negatives)
        self.replay.add({NEGATIVE: negatives})
        return {"disc/reward_mean": disc_reward.mean(), "disc/reward_std": disc_reward.std(),
                "disc/rollout_logit": logits.mean(), **self.rollout_disc_stats(negatives, normalized)}

    def rollout_disc_stats(self, negatives: torch.Tensor, normalized: torch.Tensor) -> dict[str, torch.Tensor]:
        """Statistics of the rollout's policy samples, raw and as the discriminator sees them (subclasses)."""
        return {}

    def compute_disc_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Positives against the minibatch's policy samples and as many replayed ones."""
        negatives = torch.cat([batch.extras[NEGATIVE], self.replay.sample(len(batch.obs))[NEGATIVE]])
        loss, terms = compute_disc_objective(self.discriminator, self.positive_batch(batch),
                                             self.disc_normalizer.normalize(negatives), self.disc_grad_penalty,
                                             self.disc_logit_reg, num_current=len(batch.obs))
        terms = {k.removeprefix("disc_"): v for k, v in terms.items()}
        return {**terms, "loss": loss}  # the objective's own "disc_loss" is its detached copy

    def set_training(self, training: bool) -> None:
        super().set_training(training)
        self.discriminator.train(training)

    def update_normalizers(self) -> None:
        super().update_normalizers()
        self.disc_normalizer.update()

    def _checkpointed(self) -> dict[str, Any]:
        """The replay buffer is not saved (200k samples of 1.4k floats are ~1 GB): a resumed run refills it."""
        return {**super()._checkpointed(), "discriminator": self.discriminator, "disc_normalizer": self.disc_normalizer}
