import torch

from mimickit.agents.awr import compute_awr_actor_loss, compute_awr_weights
from mimickit.agents.losses import compute_action_bound_loss, compute_normalized_advantages, compute_value_loss
from mimickit.agents.ppo import compute_clipped_surrogate_loss


def test_surrogate_has_no_gradient_beyond_the_clip():
    old = torch.zeros(4)
    # ratios 1.5 and 0.5 with advantages pushing them further out are clipped; 1.1 inside is not
    log_prob = torch.log(torch.tensor([1.5, 0.5, 1.1, 1.5])).requires_grad_()
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    loss, diag = compute_clipped_surrogate_loss(log_prob, old, adv, clip_ratio=0.2)
    loss.backward()
    grad = log_prob.grad
    assert grad[0] == 0 and grad[1] == 0
    assert grad[2] != 0 and grad[3] != 0  # pessimistic side: a ratio too large with A < 0 still counts
    assert torch.isclose(diag["clip_frac"], torch.tensor(0.75))
    torch.testing.assert_close(loss, -(1.2 - 0.8 + 1.1 - 1.5) / 4 * torch.ones(()))


def test_value_loss_clipping_is_pessimistic():
    target = torch.tensor([1.0])
    old = torch.tensor([0.0])
    assert compute_value_loss(torch.tensor([0.5]), target) == 0.25
    # the clipped prediction 0.2 is farther from the target than 0.5, so it sets the loss
    assert torch.isclose(compute_value_loss(torch.tensor([0.5]), target, old, clip=0.2), torch.tensor(0.64))


def test_action_bound_loss_only_counts_violations():
    mean = torch.tensor([[0.5, -0.9], [1.5, -3.0]])
    assert torch.isclose(compute_action_bound_loss(mean), torch.tensor((0.25 + 4.0) / 2))
    assert compute_action_bound_loss(mean[:1]) == 0


def test_normalized_advantages_and_awr_weights():
    adv = torch.tensor([1.0, 2.0, 3.0, 10.0])
    norm, mean, std = compute_normalized_advantages(adv, clip=1.5)
    assert mean == 4.0 and norm.max() == 1.5
    weights = compute_awr_weights(torch.tensor([0.0, 1.0, 5.0]), temperature=0.5, weight_clip=20.0)
    torch.testing.assert_close(weights, torch.tensor([1.0, float(torch.exp(torch.tensor(2.0))), 20.0]))
    log_prob = torch.tensor([-1.0, -2.0, -3.0])
    torch.testing.assert_close(compute_awr_actor_loss(log_prob, weights), -(weights * log_prob).mean())
