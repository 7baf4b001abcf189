import pytest
import torch

from mimickit.agents.storage import RolloutStorage, Transition


def _filled(num_steps=3, num_envs=4):
    s = RolloutStorage(num_steps, num_envs, obs_dim=2, action_dim=1, device=torch.device("cpu"))
    for t in range(num_steps):
        ids = torch.arange(num_envs, dtype=torch.float32) + 100 * t  # a unique id per sample
        s.add(Transition(obs=ids[:, None].repeat(1, 2), action=ids[:, None], log_prob=ids, reward=ids,
                         done=torch.zeros(num_envs, dtype=torch.long), next_obs=ids[:, None].repeat(1, 2)))
    s.advantage.copy_(s.reward)
    return s


def test_each_epoch_visits_every_sample_once_with_fields_aligned():
    s = _filled()
    batches = list(s.minibatches(batch_size=5, num_epochs=2))
    assert [len(b.obs) for b in batches] == [5, 5, 2] * 2
    for epoch in (batches[:3], batches[3:]):
        ids = torch.cat([b.log_prob for b in epoch])
        assert sorted(ids.tolist()) == sorted(s.reward.flatten().tolist())
    for b in batches:
        assert torch.equal(b.obs[:, 0], b.log_prob) and torch.equal(b.action[:, 0], b.advantage)


def test_misuse_is_reported():
    s = _filled()
    with pytest.raises(RuntimeError, match="full"):
        s.add(Transition(*(torch.zeros(4, 2),) * 6))
    s.clear()
    with pytest.raises(RuntimeError, match="holds 0 of 3"):
        next(s.minibatches(4, 1))
