import functools

import pytest
import torch

from mimickit.agents.optim import build_optimizer


def _params():
    return [torch.nn.Parameter(torch.zeros(3))]


def test_by_name_target_or_partial():
    sgd = build_optimizer({"name": "sgd", "lr": 0.1, "momentum": 0.9}, _params())
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    adam = build_optimizer({"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}, _params())
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 0.01
    adamw = build_optimizer(functools.partial(torch.optim.AdamW, lr=0.002), _params())
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["lr"] == 0.002


def test_bad_specs_fail_clearly():
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        build_optimizer({"name": "adamm"}, _params())
    with pytest.raises(ValueError, match="_target_"):
        build_optimizer({"lr": 0.1}, _params())
    with pytest.raises(TypeError, match="not a torch.optim.Optimizer"):
        build_optimizer({"_target_": "torch.nn.Linear"}, _params())
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer({"name": "sgd", "lr": 0.1}, [])
