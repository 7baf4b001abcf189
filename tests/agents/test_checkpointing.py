"""Checkpoints: exact resume, test mode from a checkpoint, atomic writes, metrics.json."""
import json
import math
import os

import pytest
import torch

from mimickit.utils.checkpoint import load_checkpoint, save_checkpoint
from mimickit.utils.seeding import seed_everything
from pendulum_agents import RecordingLogger, make_pendulum_agent, without_timings

SMALL = ["algo.steps_per_iter=8", "algo.iters_per_output=2", "algo.test_episodes=4", "algo.update.actor.epochs=2",
         "algo.update.critic.epochs=2"]
BALANCE: dict = {}  # PendulumEnv's defaults


def _deterministic(row):
    """The row without timings, with nan made comparable."""
    return {k: "nan" if math.isnan(v) else v for k, v in without_timings(row).items()}


def _assert_same_params(a, b):
    for (name, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(pa, pb), name


@pytest.mark.parametrize("algo", ["ppo", "awr"])
def test_resume_reproduces_an_uninterrupted_run(algo, tmp_path):
    # the balance task: random policies fail within a few iterations, so resets happen mid-rollout
    straight = make_pendulum_agent(algo, tmp_path / "straight", SMALL, num_envs=8, env_kwargs=BALANCE)
    straight.train(max_iters=4)

    first = make_pendulum_agent(algo, tmp_path / "resumed", SMALL, num_envs=8, env_kwargs=BALANCE)
    first.train(max_iters=2)
    seed_everything(1234)  # a fresh process: other RNG states, new env and agent
    resumed = make_pendulum_agent(algo, tmp_path / "resumed", SMALL, num_envs=8, seed=99, env_kwargs=BALANCE)
    resumed.train(max_iters=4, resume=True)

    rows = {int(r["iteration"]): r for r in straight.logger.rows}
    resumed_rows = {int(r["iteration"]): r for r in resumed.logger.rows}
    assert sorted(resumed_rows) == [3, 4]
    for it in (3, 4):
        assert _deterministic(resumed_rows[it]) == _deterministic(rows[it]), it
    assert _deterministic(resumed.logger.records[-1]) == _deterministic(straight.logger.records[-1])
    assert straight.logger.rows[-1]["train/episodes"] > 0 and straight.logger.rows[-1]["train/return"] > 0
    _assert_same_params(straight, resumed)
    assert resumed.sample_count == straight.sample_count == 4 * 8 * 8


def test_resume_from_path_and_missing_checkpoint(tmp_path):
    first = make_pendulum_agent("ppo", tmp_path / "a", SMALL, num_envs=4)
    first.train(max_iters=2)
    other = make_pendulum_agent("ppo", tmp_path / "b", [*SMALL, f"algo.resume_from={first.checkpoint_path}"], num_envs=4)
    other.train(max_iters=3)
    assert other.iteration == 3 and [int(r["iteration"]) for r in other.logger.rows] == [3]
    # resuming the continued run (resume=true, a SLURM requeue) takes its own checkpoint, not its starting point
    requeued = make_pendulum_agent("ppo", tmp_path / "b", [*SMALL, f"algo.resume_from={first.checkpoint_path}"],
                                   num_envs=4)
    requeued.train(max_iters=4, resume=True)
    assert [int(r["iteration"]) for r in requeued.logger.rows] == [4]  # from the starting point: [3, 4]
    fresh = make_pendulum_agent("ppo", tmp_path / "c", SMALL, num_envs=4)
    with pytest.raises(FileNotFoundError, match="model.pt"):
        fresh.train(max_iters=1, resume=True)


def test_test_mode_loads_a_checkpoint_and_reports_metrics(tmp_path):
    trained = make_pendulum_agent("ppo", tmp_path / "train", SMALL, num_envs=4)
    trained.train(max_iters=2)
    train_metrics = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert train_metrics["iteration"] == 2 and train_metrics["return"] == train_metrics["test/return"]

    tester = make_pendulum_agent("ppo", tmp_path / "test", SMALL, num_envs=4, seed=5)
    tester.load(trained.checkpoint_path)
    _assert_same_params(trained, tester)
    assert tester.iteration == 2 and tester.sample_count == trained.sample_count
    metrics = tester.test(num_episodes=6)
    means = {"return", "episode_length", "episode/angle_error", "episode/upright"}
    assert set(metrics) == {*means, "episodes", "standard_error"} and set(metrics["standard_error"]) == means
    assert metrics["standard_error"]["episode_length"] == 0  # every swing-up episode lasts 100 steps
    assert all(0 < metrics["standard_error"][k] < math.inf for k in ("return", "episode/angle_error", "episode/upright"))
    assert metrics["episodes"] == 8  # 2 per env: every env runs the same number of episodes
    assert metrics["episode_length"] == 100  # swing-up episodes only end by time-out
    assert 0 < metrics["return"] <= 100
    assert json.loads((tmp_path / "test" / "metrics.json").read_text()) == metrics


def test_loading_to_act_keeps_this_runs_random_state(tmp_path):
    """mode=test/eval/play episodes follow the run's own seed: `load` does not restore the training's RNG state
    (resuming does, test_resume_reproduces_an_uninterrupted_run)."""
    trained = make_pendulum_agent("ppo", tmp_path / "train", SMALL, num_envs=4)
    trained.train(max_iters=2)
    tester = make_pendulum_agent("ppo", tmp_path / "test", SMALL, num_envs=4)
    seed_everything(5)
    before = torch.get_rng_state()
    tester.load(trained.checkpoint_path)
    assert torch.equal(torch.get_rng_state(), before)
    saved = load_checkpoint(trained.checkpoint_path)["rng"]["torch"]
    assert not torch.equal(saved, before)  # the test could tell the two states apart


def test_checkpoint_holds_models_optimizers_normalizer_counters_and_rngs(tmp_path):
    agent = make_pendulum_agent("awr", tmp_path, SMALL, num_envs=4)
    agent.train(max_iters=2)
    state = load_checkpoint(agent.checkpoint_path)
    assert {"model", "obs_normalizer", "optimizer/actor", "optimizer/critic", "iteration", "sample_count",
            "rng", "algorithm"} <= set(state)
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert state["optimizer/actor"]["state"], "optimizer moments must be saved"
    assert float(state["obs_normalizer"]["count"]) == 2 * 8 * 4
    assert state["iteration"] == 2 and state["algorithm"] == "AWRAgent"


def test_failed_save_leaves_no_partial_file(tmp_path):
    path = tmp_path / "model.pt"
    with pytest.raises(Exception):
        save_checkpoint(path, {"fn": lambda: 0})  # lambdas cannot be pickled: torch.save fails mid-write
    assert os.listdir(tmp_path) == []

    save_checkpoint(path, {"iteration": 1})
    with pytest.raises(Exception):
        save_checkpoint(path, {"iteration": 2, "fn": lambda: 0})
    assert os.listdir(tmp_path) == ["model.pt"]
    assert torch.load(path)["iteration"] == 1


def test_output_period_logging_and_intermediate_checkpoints(tmp_path):
    logger = RecordingLogger()
    agent = make_pendulum_agent("ppo", tmp_path, [*SMALL, "algo.save_intermediate=true"], num_envs=4, logger=logger)
    agent.train(max_iters=5)
    assert [int(r["iteration"]) for r in logger.rows] == [1, 2, 3, 4, 5]
    assert [int(r["iteration"]) for r in logger.records] == [2, 4, 5]  # every 2 iterations and the last one
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["iter_000002.pt", "iter_000004.pt", "iter_000005.pt"]
    record = logger.records[-1]
    for key in ["train/return", "train/episode_length", "test/return", "test/episode/angle_error",
                "train/episode/upright", "samples_per_s", "time/env_s", "time/policy_s", "time/update_s",
                "actor/loss", "critic/loss", "actor/clip_frac", "advantage/std"]:
        assert key in record, key
