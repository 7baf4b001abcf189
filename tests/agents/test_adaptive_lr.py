"""The step size of PPO fitted to the KL: the adaptive learning-rate schedule (desired_kl) follows the measured KL
within its range, and max_kl ends an actor update that moved the policy too far."""
import math

import pytest
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


def _actor_steps(agent) -> int:
    optimizer = agent.phase("actor").optimizer
    return int(optimizer.state[optimizer.param_groups[0]["params"][0]]["step"])


@pytest.mark.parametrize("max_kl, stops", [(1e-9, True), (None, False)])
def test_max_kl_stops_the_actor_update_at_the_first_minibatch_past_it(tmp_path, max_kl, stops):
    """Every real step moves the policy past a KL of 1e-9, so the actor takes its first step only; without max_kl
    it takes all of them (epochs x minibatches). The critic's update is not affected."""
    overrides = ["algo.steps_per_iter=8", "algo.iters_per_output=1", "algo.test_episodes=0",
                 f"algo.max_kl={'null' if max_kl is None else max_kl}"]
    agent = make_pendulum_agent("ppo", tmp_path, overrides, num_envs=8)
    agent.train(max_iters=1)
    actor = agent.phase("actor")
    all_steps = actor.epochs * math.ceil(agent.storage.num_samples / actor.batch_size)
    assert _actor_steps(agent) == (1 if stops else all_steps) and all_steps > 1
    critic = agent.phase("critic").optimizer
    assert int(critic.state[critic.param_groups[0]["params"][0]]["step"]) > 1
    if stops:
        assert agent.logger.rows[-1]["actor/stopped_early"] == 1.0
