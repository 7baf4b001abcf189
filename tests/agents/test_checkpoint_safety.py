"""Checkpoints load as tensors and plain values only: a file that would run code, or a damaged one, is refused with
an error that names it."""
import logging
import os
import random

import numpy as np
import pytest
import torch

from mimickit.utils.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from pendulum_agents import make_pendulum_agent

SMALL = ["algo.steps_per_iter=4", "algo.iters_per_output=1", "algo.test_episodes=0"]


class _RunsCode:
    """Unpickling this calls os.system: what an attacker's checkpoint would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_malicious_checkpoint(path, marker):
    torch.save({"model": {}, "iteration": 1, "payload": _RunsCode(marker)}, path)


def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    path, marker = tmp_path / "model.pt", tmp_path / "pwned"
    write_malicious_checkpoint(path, marker)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "empty", "text"])
def test_damaged_checkpoint_error_names_the_file(tmp_path, damage):
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"iteration": 3, "weights": torch.randn(100, 100)})
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "text": b"not a checkpoint"}[damage])
    with pytest.raises(CheckpointError, match=f"cannot load checkpoint '{path}'"):
        load_checkpoint(path)


def test_rng_state_round_trips_through_a_weights_only_load(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.gauss(0, 1), np.random.randn()  # leave a cached Gaussian in both
    save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng_state()})
    expected = (random.random(), random.gauss(0, 1), np.random.randn(3), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    got = (random.random(), random.gauss(0, 1), np.random.randn(3), torch.rand(3))
    assert got[:2] == expected[:2]
    np.testing.assert_array_equal(got[2], expected[2])
    assert torch.equal(got[3], expected[3])


def test_agent_load_refuses_a_malicious_checkpoint(tmp_path):
    agent = make_pendulum_agent("ppo", tmp_path / "run", SMALL, num_envs=2)
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    write_malicious_checkpoint(path, marker)
    with pytest.raises(CheckpointError, match="evil.pt"):
        agent.load(str(path))
    assert not marker.exists()


def test_resume_falls_back_to_the_newest_readable_intermediate_checkpoint(tmp_path, caplog):
    run = tmp_path / "run"
    first = make_pendulum_agent("ppo", run, [*SMALL, "algo.save_intermediate=true"], num_envs=2)
    first.train(max_iters=3)
    (run / "model.pt").write_bytes(b"")  # the disk lost the latest checkpoint
    (run / "checkpoints" / "iter_000003.pt").write_bytes(b"\x00" * 10)
    resumed = make_pendulum_agent("ppo", run, [*SMALL, "algo.save_intermediate=true"], num_envs=2)
    with caplog.at_level(logging.WARNING):
        resumed.train(max_iters=4, resume=True)
    assert resumed.iteration == 4 and resumed.sample_count == 4 * 4 * 2
    assert "iter_000002.pt" in caplog.text and "model.pt" in caplog.text


def test_resume_with_only_unreadable_checkpoints_fails_clearly(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"garbage")
    agent = make_pendulum_agent("ppo", tmp_path, SMALL, num_envs=2)
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        agent.train(max_iters=1, resume=True)


def test_checkpoint_of_other_network_sizes_is_named(tmp_path):
    small = make_pendulum_agent("ppo", tmp_path / "a", SMALL, num_envs=2)
    small.train(max_iters=1)
    wide = make_pendulum_agent("ppo", tmp_path / "b", [*SMALL, "algo.model.actor_hidden_dims=[32]"], num_envs=2)
    with pytest.raises(CheckpointError, match=r"does not fit this run's model"):
        wide.load(small.checkpoint_path)
