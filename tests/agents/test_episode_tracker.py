import math

import numpy as np
import pytest
import torch

from mimickit.agents.episode_tracker import EpisodeTracker, standard_errors
from mimickit.envs.base_env import DoneFlags

N, F, T = int(DoneFlags.NULL), int(DoneFlags.FAIL), int(DoneFlags.TIME)


def _run(tracker, dones):
    for step, done in enumerate(dones):
        reward = torch.tensor([1.0, 2.0])
        info = {"episode/err": torch.tensor([float(step), 10.0]), "other": torch.zeros(2)}
        tracker.update(reward, torch.tensor(done), info)


def test_episode_means_of_return_length_and_info():
    tracker = EpisodeTracker(2, torch.device("cpu"))
    # env 0: episodes of 2 steps (err 0, 1) and 1 step (err 2); env 1: one 3-step episode (err 10)
    _run(tracker, [[N, N], [F, N], [T, T]])
    s = {k: float(v) for k, v in tracker.summary().items()}
    assert s["episodes"] == 3
    assert math.isclose(s["return"], (2.0 + 1.0 + 6.0) / 3)
    assert math.isclose(s["episode_length"], (2 + 1 + 3) / 3)
    assert math.isclose(s["episode/err"], (0.5 + 2.0 + 10.0) / 3)
    assert "other" not in s and "episode/other" not in s


def test_quota_counts_only_the_first_episodes_of_each_env():
    tracker = EpisodeTracker(2, torch.device("cpu"), episodes_per_env=1)
    _run(tracker, [[F, N], [F, N]])
    assert not tracker.all_envs_done() and float(tracker.summary()["episodes"]) == 1
    _run(tracker, [[F, T]])
    assert tracker.all_envs_done()
    s = tracker.summary()
    assert float(s["episodes"]) == 2 and math.isclose(float(s["return"]), (1.0 + 3 * 2.0) / 2)


def test_no_finished_episode_gives_nan_and_reset_forgets():
    tracker = EpisodeTracker(2, torch.device("cpu"))
    _run(tracker, [[N, N]])
    assert math.isnan(float(tracker.summary()["return"]))
    _run(tracker, [[F, F]])
    tracker.reset()
    assert float(tracker.summary()["episodes"]) == 0


def test_standard_errors_match_the_sample_standard_deviation_of_the_episodes():
    tracker = EpisodeTracker(2, torch.device("cpu"))
    _run(tracker, [[N, N], [F, N], [T, T]])  # the episodes of test_episode_means_of_return_length_and_info
    summary = {k: float(v) for k, v in tracker.summary(with_mean_squares=True).items()}
    errors = standard_errors(summary)
    per_episode = {"return": [2.0, 1.0, 6.0], "episode_length": [2, 1, 3], "episode/err": [0.5, 2.0, 10.0]}
    assert set(errors) == set(per_episode)
    for key, values in per_episode.items():
        assert math.isclose(errors[key], np.std(values, ddof=1) / math.sqrt(3), rel_tol=1e-6), key
        assert math.isclose(summary[key], np.mean(values), rel_tol=1e-6), key
    assert set(tracker.summary()) == {"episodes", *per_episode}  # the means alone unless asked
    one = EpisodeTracker(2, torch.device("cpu"))
    _run(one, [[F, N]])
    assert math.isnan(standard_errors({k: float(v) for k, v in one.summary(True).items()})["return"])


def test_kept_episodes_are_the_counted_ones_with_their_end_flags():
    tracker = EpisodeTracker(2, torch.device("cpu"), episodes_per_env=1, keep_episodes=True)
    _run(tracker, [[N, N], [F, N], [T, T]])  # env 0's second episode is over its quota
    kept = tracker.episodes()
    assert kept["done"].tolist() == [F, T] and kept["env"].tolist() == [0, 1]
    assert kept["return"].tolist() == [2.0, 6.0] and kept["episode_length"].tolist() == [2.0, 3.0]
    assert kept["episode/err"].tolist() == [0.5, 10.0]
    assert float(tracker.summary()["return"]) == kept["return"].mean()
    with pytest.raises(ValueError, match="keep_episodes"):
        EpisodeTracker(2, torch.device("cpu")).episodes()
