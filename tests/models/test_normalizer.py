import numpy as np
import pytest
import torch

from mimickit.models.normalizer import RunningNormalizer


def _batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([1.0, 10.0, 0.1])
    shift = torch.tensor([5.0, -3.0, 0.0])
    return [torch.randn(n, 3, generator=g) * scale + shift for n in (7, 50, 1, 33)]


def test_running_statistics_equal_those_of_all_samples():
    norm = RunningNormalizer(3, clip=None)
    for batch in _batches():
        norm.record(batch)
        norm.update()
    data = torch.cat(_batches()).double().numpy()
    assert float(norm.count) == len(data)
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-9)
    x = torch.cat(_batches())
    z = norm.normalize(x)
    np.testing.assert_allclose(z.mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(0, unbiased=False).numpy(), 1.0, atol=1e-5)
    torch.testing.assert_close(norm.unnormalize(z), x, rtol=1e-5, atol=1e-4)


def test_statistics_stay_fixed_until_update():
    norm = RunningNormalizer(3)
    norm.record(_batches()[1])
    assert float(norm.count) == 0 and torch.all(norm.mean == 0)
    norm.update()
    assert float(norm.count) == 50 and float(norm.pending_count) == 0


def test_merging_two_workers_equals_one_worker_seeing_everything():
    """What a distributed helper does: all-reduce the pending sums, or merge gathered statistics."""
    a, b, both = RunningNormalizer(3), RunningNormalizer(3), RunningNormalizer(3)
    batches = _batches()
    for batch in batches[:2]:
        a.record(batch)
        both.record(batch)
    for batch in batches[2:]:
        b.record(batch)
        both.record(batch)
    a.update(), b.update(), both.update()
    a.merge(b.count, b.mean, b.var)
    torch.testing.assert_close(a.mean, both.mean)
    torch.testing.assert_close(a.var, both.var)
    assert float(a.count) == float(both.count)


def test_clip_and_freeze_after_max_samples():
    norm = RunningNormalizer(3, clip=2.0, max_samples=40)
    norm.record(torch.randn(50, 3))
    norm.update()
    assert norm.frozen
    mean = norm.mean.clone()
    norm.record(torch.full((10, 3), 100.0))
    norm.update()
    assert torch.equal(norm.mean, mean)
    assert norm.normalize(torch.full((1, 3), 1e6)).max() == 2.0


def test_state_dict_round_trip_restores_statistics_and_frozen_state():
    norm = RunningNormalizer(3, max_samples=10)
    norm.record(torch.randn(20, 3) + 4.0)
    norm.update()
    restored = RunningNormalizer(3, max_samples=10)
    restored.load_state_dict(norm.state_dict())
    assert restored.frozen
    torch.testing.assert_close(restored.normalize(torch.ones(2, 3)), norm.normalize(torch.ones(2, 3)))


def test_wrong_sample_shape_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        RunningNormalizer(3).record(torch.zeros(4, 2))
