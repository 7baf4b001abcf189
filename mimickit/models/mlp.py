"""A fully connected network built from a list of hidden sizes and an activation name."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """Linear layers with `activation` between them and a linear output.

    `output_init_scale` draws the output weights from U(-scale, scale) with zero bias, so a fresh policy's
    mean action starts near zero (MimicKit's `actor_init_output_scale`); None keeps PyTorch's default init.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int],
        activation: str = "relu",
        output_init_scale: float | None = None,
    ):
        if in_dim <= 0 or out_dim <= 0 or any(h <= 0 for h in hidden_dims):
            raise ValueError(f"MLP sizes must be positive: in {in_dim}, hidden {list(hidden_dims)}, out {out_dim}")
        layers: list[nn.Module] = []
        dims = [in_dim, *hidden_dims]
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), make_activation(activation)]
        output = nn.Linear(dims[-1], out_dim)
        if output_init_scale is not None:
            nn.init.uniform_(output.weight, -output_init_scale, output_init_scale)
            nn.init.zeros_(output.bias)
        layers.append(output)
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"MLP expects inputs of size {self.in_dim} in the last dim, got {tuple(x.shape)}")
        return super().forward(x)
