"""The AMP/ADD discriminator: an MLP from normalised disc observations (AMP) or normalised demo-agent
differences (ADD) to one logit, "this came from the demonstrations"."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mimickit.models.mlp import MLP


class Discriminator(nn.Module):
    """MLP trunk -> Linear(last hidden, 1). The logit layer starts at U(-init_output_scale, init_output_scale)
    with zero bias (MimicKit: 1.0); the trunk keeps PyTorch's default init, as in `ActorCritic`."""

    def __init__(
        self,
        obs_dim: int,
        hidden_dims: Sequence[int],
        activation: str,
        init_output_scale: float,
    ):
        super().__init__()
        self.net = MLP(obs_dim, 1, list(hidden_dims), activation, output_init_scale=init_output_scale)

    def forward(self, norm_disc_obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) -> (B,) logits."""
        return self.net(norm_disc_obs).squeeze(-1)

    def logit_weights(self) -> torch.Tensor:
        """(1, last hidden) weights of the logit layer, the target of the logit regulariser."""
        return self.net[-1].weight
