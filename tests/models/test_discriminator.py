from pathlib import Path

import pytest
import torch
from torch import nn

from mimickit.models.discriminator import Discriminator


def test_conf_algo_amp_builds_mimickit_humanoid_disc():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "algo" / "amp.yaml")
    disc = instantiate(conf.discriminator)(obs_dim=7)
    linears = [m for m in disc.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7, 1024), (1024, 512), (512, 1)]
    assert sum(isinstance(m, nn.ReLU) for m in disc.modules()) == 2


def test_logit_layer_init_and_output_shape():
    torch.manual_seed(0)
    disc = Discriminator(5, hidden_dims=[64, 32], activation="tanh", init_output_scale=0.5)
    w = disc.logit_weights()
    assert w.shape == (1, 32) and w is disc.net[-1].weight
    assert w.abs().max() <= 0.5 and w.abs().max() > 0.4  # U(-0.5, 0.5), not PyTorch's 1/sqrt(32) range
    assert torch.all(disc.net[-1].bias == 0)
    assert disc(torch.randn(9, 5)).shape == (9,)


def test_wrong_input_size_is_rejected():
    with pytest.raises(ValueError, match="size 5"):
        Discriminator(5, hidden_dims=[8], activation="relu", init_output_scale=1.0)(torch.zeros(2, 4))
