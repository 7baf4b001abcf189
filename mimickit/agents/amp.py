"""Adversarial Motion Priors (Peng et al. 2021): the discriminator tells windows of motion-capture clips from the
policy's, so the policy is rewarded for moving like the clips without tracking any one of them."""
from __future__ import annotations

import torch
from torch import nn

from mimickit.agents.adversarial import AdversarialAgent
from mimickit.agents.storage import Batch
from mimickit.models.normalizer import RunningNormalizer

DEMO = "disc_demo"  # the storage field of this iteration's clip windows, one per rollout sample


class AMPAgent(AdversarialAgent):
    """Positives: `env.fetch_demo_disc_obs` windows, steps_per_iter x num_envs of them per iteration, stored beside
    the rollout so each discriminator minibatch takes the demos at its rows. Negatives: `info["disc_obs"]`."""

    def __init__(self, env, **adversarial_kwargs):
        super().__init__(env, **adversarial_kwargs)
        self.storage.declare(DEMO, (env.disc_obs_dim,))

    def make_disc_normalizer(self, dim: int) -> nn.Module:
        return RunningNormalizer(dim, clip=self.obs_normalizer.clip, max_samples=self.obs_normalizer.max_samples)

    def negative_sample(self, info: dict[str, torch.Tensor]) -> torch.Tensor:
        return info["disc_obs"]

    def prepare_positives(self) -> None:
        demos = self.env.fetch_demo_disc_obs(self.storage.num_samples)
        self.storage.extras[DEMO].copy_(demos.view_as(self.storage.extras[DEMO]))
        self.disc_normalizer.record(demos)

    def positive_batch(self, batch: Batch) -> torch.Tensor:
        return self.disc_normalizer.normalize(batch.extras[DEMO])
