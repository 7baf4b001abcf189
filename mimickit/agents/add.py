"""Adversarial Differential Discriminators (Zhang et al. 2025): tracking without hand-tuned reward weights. The
discriminator sees the difference between the reference's and the character's observation at the same moment;
the one positive sample is the zero difference, so the style reward measures how far the character is from its
own reference, in a metric the discriminator learns."""
from __future__ import annotations

import torch
from torch import nn

from mimickit.agents.adversarial import NEGATIVE, AdversarialAgent
from mimickit.agents.storage import Batch
from mimickit.models.diff_normalizer import DiffNormalizer


class ADDAgent(AdversarialAgent):
    """Negatives: `info["disc_obs_demo"] - info["disc_obs"]`, scaled per dimension by their running mean
    magnitude (`DiffNormalizer`). Positive: one zero difference per minibatch, not normalised.

    Logs, per part of the difference (the env's `disc_obs_parts`: root position, root rotation, joint rotations,
    body positions, root velocities, DoF velocities), its mean magnitude over the rollout, raw (`add/diff_<part>`, in
    the observation's units) and as the discriminator sees it (`add/scaled_diff_<part>`, after the normaliser): which
    part of the character's error the learned reward is about."""

    def rollout_disc_stats(self, negatives: torch.Tensor, normalized: torch.Tensor) -> dict[str, torch.Tensor]:
        stats = {}
        for name, index in self.env.disc_obs_parts.items():
            stats[f"add/diff_{name}"] = negatives[:, index].abs().mean()
            stats[f"add/scaled_diff_{name}"] = normalized[:, index].abs().mean()
        return stats

    def make_disc_normalizer(self, dim: int) -> nn.Module:
        return DiffNormalizer(dim, max_samples=self.obs_normalizer.max_samples)

    def negative_sample(self, info: dict[str, torch.Tensor]) -> torch.Tensor:
        return info["disc_obs_demo"] - info["disc_obs"]

    def prepare_positives(self) -> None:
        """The positive is always the zero difference: nothing to gather."""

    def positive_batch(self, batch: Batch) -> torch.Tensor:
        return torch.zeros(1, batch.extras[NEGATIVE].shape[-1], device=self.device)
