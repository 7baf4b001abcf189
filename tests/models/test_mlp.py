import pytest
import torch

from mimickit.models.mlp import MLP


def test_layers_follow_hidden_sizes_and_activation():
    net = MLP(5, 3, [16, 8], activation="elu")
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 16), (16, 8), (8, 3)]
    assert sum(isinstance(m, torch.nn.ELU) for m in net) == 2
    assert net(torch.zeros(4, 7, 5)).shape == (4, 7, 3)


def test_output_init_scale_bounds_the_output_layer():
    net = MLP(5, 3, [16], output_init_scale=0.01)
    out = [m for m in net if isinstance(m, torch.nn.Linear)][-1]
    assert out.weight.abs().max() <= 0.01 and torch.all(out.bias == 0)


def test_bad_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        MLP(5, 3, [16], activation="relux")
    with pytest.raises(ValueError, match="positive"):
        MLP(5, 3, [0])
    with pytest.raises(ValueError, match="size 5"):
        MLP(5, 3, [16])(torch.zeros(2, 4))
