"""Two gloo workers: averaged gradients equal the single-process gradient of the whole batch, and the
normaliser, episode statistics, logged scalars and initial parameters are the same on every worker."""
import math

import pytest
import torch

import dist_workers
from mimickit.models.normalizer import RunningNormalizer
from mimickit.utils import distributed

NUM_SAMPLES = 64


@pytest.fixture(scope="module")
def ranks():
    """Every rank's results of `collective_checks` (one spawn of two workers for the whole module)."""
    results = distributed.launch(dist_workers.collective_checks, ["cpu", "cpu"], "cpu", NUM_SAMPLES)
    assert len(results) == 2
    return results


def test_averaged_gradients_equal_the_single_process_gradient_of_the_whole_batch(ranks):
    (single,) = dist_workers.one_update_gradients(None, NUM_SAMPLES)
    assert set(single) == set(ranks[0]["grads"]) and len(single) > 4
    for name, grad in single.items():
        for rank in ranks:
            torch.testing.assert_close(rank["grads"][name], grad, rtol=1e-5, atol=1e-7, msg=name)
    # the check can fail: one worker's own half-batch gradient is not the whole batch's
    torch.set_num_threads(1)
    own_half = dist_workers.pendulum_agent(".", 4, 0)
    batch = dist_workers.shard(dist_workers.fixed_batch(NUM_SAMPLES), 0, 2)
    own_half.optimizer_step(own_half.phase("actor").optimizer, own_half.compute_actor_loss(batch)["loss"])
    grad = dict(own_half.model.named_parameters())["actor.mean_net.0.weight"].grad
    assert not torch.allclose(grad, single["actor.mean_net.0.weight"], rtol=1e-3)


def test_normalizer_update_folds_the_samples_of_every_worker(ranks):
    reference = RunningNormalizer(3)
    for rank in range(2):
        reference.record(dist_workers.normalizer_samples(rank))
    reference.update()
    for rank in ranks:
        count, mean, var = rank["normalizer"]
        assert float(count) == float(reference.count) == 100
        torch.testing.assert_close(mean, reference.mean)
        torch.testing.assert_close(var, reference.var)


def test_episode_statistics_are_weighted_by_each_workers_episode_count(ranks):
    for rank in ranks:
        episodes = rank["episodes"]
        assert float(episodes["episodes"]) == 2.0
        assert float(episodes["return"]) == 10.0 and float(episodes["episode_length"]) == 4.0
        assert math.isnan(float(rank["no_episodes"]["return"])) and float(rank["no_episodes"]["episodes"]) == 0


def test_logged_scalars_are_averaged_and_parameters_broadcast_from_rank_0(ranks):
    for rank in ranks:
        assert float(rank["mean"]["loss"]) == 0.5 and float(rank["mean"]["kl"]) == 2.0
        assert torch.all(rank["broadcast"] == 0.0)


def test_restored_rng_state_splits_into_distinct_reproducible_streams(ranks):
    (first0, again0), (first1, again1) = (rank["rng_draws"] for rank in ranks)
    assert torch.equal(first0, again0) and torch.equal(first1, again1)
    assert not torch.equal(first0, first1)
