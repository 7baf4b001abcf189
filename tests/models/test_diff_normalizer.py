import torch

from mimickit.models.diff_normalizer import DiffNormalizer


def test_identity_before_any_update():
    norm = DiffNormalizer(3)
    x = torch.tensor([[1.0, -2.0, 0.5]])
    assert torch.equal(norm.normalize(x), x)
    norm.update()  # nothing recorded: mean|x| keeps its initial 1
    assert torch.equal(norm.normalize(x), x) and float(norm.count) == 0


def test_scale_is_running_mean_abs_without_centering_or_clip():
    norm = DiffNormalizer(3)
    a = torch.tensor([[2.0, -1.0, 0.0], [-4.0, 3.0, 0.0]])
    b = torch.tensor([[6.0, 0.0, 0.0]])
    norm.record(a)
    norm.update()
    # after a: mean|x| = [3, 2, 0]
    torch.testing.assert_close(norm.mean_abs, torch.tensor([3.0, 2.0, 0.0], dtype=torch.float64))
    norm.record(b)
    norm.update()
    # count-weighted: (2 * [3, 2, 0] + [6, 0, 0]) / 3 = [4, 4/3, 0]; the zero column divides by 1e-4
    expected = torch.tensor([4.0, 4.0 / 3.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(norm.mean_abs, expected)
    x = torch.tensor([[0.0, 0.0, 0.0], [8.0, -4.0, 1.0]])
    z = norm.normalize(x)
    torch.testing.assert_close(z, torch.tensor([[0.0, 0.0, 0.0], [2.0, -3.0, 1e4]]))


def test_freezes_after_max_samples_and_round_trips_state_dict():
    norm = DiffNormalizer(2, max_samples=4)
    norm.record(torch.full((5, 2), 2.0))
    norm.update()
    assert norm.frozen
    norm.record(torch.full((5, 2), 100.0))
    norm.update()
    torch.testing.assert_close(norm.scale, torch.full((2,), 2.0))
    restored = DiffNormalizer(2, max_samples=4)
    restored.load_state_dict(norm.state_dict())
    assert restored.frozen
    torch.testing.assert_close(restored.normalize(torch.ones(1, 2)), torch.full((1, 2), 0.5))
