import math

import torch

from mimickit.models.actor_critic import ActorCritic, DiagGaussian


def test_diag_gaussian_matches_torch_normal():
    mean = torch.randn(6, 3)
    log_std = torch.tensor([-1.0, 0.0, 0.5])
    ours = DiagGaussian(mean, log_std)
    ref = torch.distributions.Normal(mean, log_std.exp())
    x = torch.randn(6, 3)
    torch.testing.assert_close(ours.log_prob(x), ref.log_prob(x).sum(-1))
    torch.testing.assert_close(ours.entropy(), ref.entropy().sum(-1))
    torch.manual_seed(0)
    samples = torch.stack([ours.sample() for _ in range(4000)])
    torch.testing.assert_close(samples.std(0).mean(0), log_std.exp(), rtol=0.05, atol=0.0)


def test_fixed_std_is_not_trained_and_learned_std_is():
    fixed = ActorCritic(4, 2, [8], [8], "relu", init_std=0.05, learn_std=False, actor_output_scale=0.01)
    learned = ActorCritic(4, 2, [8], [8], "relu", init_std=0.3, learn_std=True, actor_output_scale=0.01)
    assert not any(p is fixed.actor.log_std for p in fixed.actor_parameters())
    assert any(p is learned.actor.log_std for p in learned.actor_parameters())
    dist = fixed.action_distribution(torch.zeros(5, 4))
    torch.testing.assert_close(dist.std, torch.full((5, 2), 0.05))
    assert math.isclose(float(learned.actor.log_std.detach().exp()[0]), 0.3, rel_tol=1e-6)


def test_shapes_and_small_initial_actions():
    model = ActorCritic(4, 2, [16, 16], [16], "relu", init_std=0.05, learn_std=False, actor_output_scale=0.01)
    obs = torch.randn(10, 4)
    assert model.value(obs).shape == (10,)
    assert model.action_distribution(obs).mean.abs().max() < 0.2
    critic_ids = {id(p) for p in model.critic_parameters()}
    assert critic_ids.isdisjoint(id(p) for p in model.actor_parameters())
