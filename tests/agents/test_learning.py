"""PPO and AWR each learn the pendulum swing-up: the deterministic test return rises well above a random start."""
import pytest

from pendulum_agents import make_pendulum_agent

RUNS = {
    "ppo": [],
    "awr": ["algo.update.actor.optimizer.lr=3e-3"],
}


@pytest.mark.parametrize("algo", sorted(RUNS))
def test_agent_learns_pendulum_swing_up(algo, tmp_path):
    agent = make_pendulum_agent(algo, tmp_path, ["algo.iters_per_output=20", "algo.test_episodes=32", *RUNS[algo]])
    before = agent.test(num_episodes=32)["return"]
    metrics = agent.train(max_iters=60)
    curve = [r["test/return"] for r in agent.logger.records]
    # max return is 100 (upright and still for 5 s); hanging or spinning earns ~7
    assert before < 15, curve
    assert metrics["test/return"] > 40 and metrics["test/return"] > 4 * before, curve
    assert metrics["train/return"] > 2 * before, curve
    assert metrics["test/episode/angle_error"] < 1.0
