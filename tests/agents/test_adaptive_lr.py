"""The adaptive learning-rate schedule of PPO (desired_kl): the step follows the measured KL, within its range."""
import torch

from mimickit.agents.ppo import adapt_learning_rate
from pendulum_agents import make_pendulum_agent


def test_schedule_shrinks_grows_holds_and_clamps():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    assert adapt_learning_rate(optimizer, kl=0.05, desired_kl=0.01, lr_range=(1e-6, 1e-3)) == 1e-4 / 1.5
    assert adapt_learning_rate(optimizer, kl=0.01, desired_kl=0.01, lr_range=(1e-6, 1e-3)) == 1e-4 / 1.5
    assert adapt_learning_rate(optimizer, kl=0.001, desired_kl=0.01, lr_range=(1e-6, 1e-3)) == 1e-4
    for _ in range(40):
        lr = adapt_learning_rate(optimizer, kl=1.0, desired_kl=0.01, lr_range=(1e-6, 1e-3))
    assert lr == 1e-6


def test_ppo_follows_the_kl_and_logs_its_learning_rate(tmp_path):
    agent = make_pendulum_agent("ppo", tmp_path, ["algo.desired_kl=1e-6", "algo.steps_per_iter=8",
                                                  "algo.iters_per_output=3", "algo.test_episodes=0"], num_envs=8)
    start = agent.phase("actor").optimizer.param_groups[0]["lr"]
    agent.train(max_iters=3)
    lrs = [row["actor/lr"] for row in agent.logger.rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < start  # any real update exceeds a KL of 1e-6
    assert agent.logger.records[-1]["actor/lr"] == lrs[-1]
