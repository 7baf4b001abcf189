import functools

import pytest
import torch

from mimickit.agents.optim import build_optimizer, step_unless


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


def _linear_and_optimizer(optimizer_cls, **kwargs):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return model, optimizer_cls(model.parameters(), **kwargs)


def _sgd_step(model, optimizer, x):
    optimizer.zero_grad()
    model(x).square().sum().backward()
    optimizer.step()


def _snapshot(model, optimizer):
    """The parameters and every tensor of the optimiser's state."""
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
    return [t.detach().clone() for t in [*model.parameters(), *state]]


@pytest.mark.parametrize("optimizer_cls, kwargs", [(torch.optim.Adam, {"lr": 0.1}),
                                                   (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9})])
def test_step_unless_undoes_a_skipped_step_and_keeps_a_taken_one(optimizer_cls, kwargs):
    """A skipped step leaves the parameters and the optimiser's state (Adam's moments and step count, SGD's
    momentum) as they were; a taken one is exactly the plain step."""
    xs = torch.randn(3, 4, 3)
    masked, masked_opt = _linear_and_optimizer(optimizer_cls, **kwargs)
    plain, plain_opt = _linear_and_optimizer(optimizer_cls, **kwargs)
    for x in xs[:2]:  # the optimisers' state exists from here on
        _sgd_step(masked, masked_opt, x)
        _sgd_step(plain, plain_opt, x)
    before = _snapshot(plain, plain_opt)

    step_unless(torch.tensor(True), masked_opt, functools.partial(_sgd_step, masked, masked_opt, xs[2]))
    assert all(torch.equal(a, b) for a, b in zip(_snapshot(masked, masked_opt), before))

    step_unless(torch.tensor(False), masked_opt, functools.partial(_sgd_step, masked, masked_opt, xs[2]))
    _sgd_step(plain, plain_opt, xs[2])
    after = _snapshot(plain, plain_opt)
    assert all(torch.equal(a, b) for a, b in zip(_snapshot(masked, masked_opt), after))
    assert not torch.equal(after[0], before[0])
