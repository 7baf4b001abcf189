"""How the loop maps actions onto env bounds and sizes its minibatches."""
import math
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from mimickit.envs.base_env import BaseEnv, DoneFlags
from pendulum_agents import CONF, compose_run_config


class BoxEnv(BaseEnv):
    """Two action dims: [-2, 4] and unbounded. Observations are the last action; episodes never end."""

    def __init__(self, num_envs=4, low=(-2.0, -math.inf), high=(4.0, math.inf)):
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.bounds = torch.tensor(low), torch.tensor(high)
        self.last_action = torch.zeros(num_envs, 2)

    obs_dim = property(lambda self: 2)
    action_dim = property(lambda self: 2)
    action_bounds = property(lambda self: self.bounds)

    def reset(self, env_ids=None):
        return self.last_action.clone()

    def step(self, actions):
        self.last_action = actions.clone()
        done = torch.full((self.num_envs,), int(DoneFlags.NULL))
        return actions.clone(), torch.zeros(self.num_envs), done, {}


def _agent(env, *overrides):
    """PPO from conf/algo/ppo.yaml, tiny nets and frozen weights (learning rate 0)."""
    cfg = compose_run_config(["algo=ppo", "algo.model.actor_hidden_dims=[8]", "algo.model.critic_hidden_dims=[8]",
                              "algo.model.actor_output_scale=null", "algo.update.actor.optimizer.lr=0",
                              "algo.update.critic.optimizer.lr=0", *overrides])
    return instantiate(cfg.algo, env=env, device="cpu")


def test_policy_actions_map_onto_the_bounds_and_only_bounded_dims_are_penalised():
    agent = _agent(BoxEnv(), "algo.update.actor.batch_size=1.5", "algo.update.critic.batch_size=0.5")
    assert agent.phase("actor").batch_size == 6 and agent.phase("critic").batch_size == 2  # x num_envs = 4
    step = agent._act(torch.zeros(4, 2), deterministic=True)
    torch.testing.assert_close(step.action, torch.stack([1.0 + 3.0 * step.norm_action[:, 0], step.norm_action[:, 1]], -1))
    with torch.no_grad():
        agent.model.actor.mean_net[-1].bias.copy_(torch.tensor([3.0, 50.0]))
        agent.model.actor.mean_net[-1].weight.zero_()
    dist = agent.model.action_distribution(torch.zeros(4, 2))
    terms = agent.actor_regularization(dist)
    assert torch.isclose(terms["action_bound_loss"], torch.tensor(4.0))  # (3 - 1)^2 on dim 0; dim 1 unbounded
    assert torch.isclose(terms["loss"], 10.0 * terms["action_bound_loss"])


def test_bad_bounds_and_settings_fail_clearly():
    # Hydra's InstantiationException carries the constructor's error and message
    with pytest.raises(InstantiationException, match="low < high"):
        _agent(BoxEnv(low=(1.0, 0.0), high=(1.0, 1.0)))
    with pytest.raises(InstantiationException, match="steps_per_iter must be positive"):
        _agent(BoxEnv(), "algo.steps_per_iter=0")
    with pytest.raises(InstantiationException, match="hidden_dim"):
        _agent(BoxEnv(), "+algo.model.hidden_dim=[8]")


@pytest.mark.parametrize("algo", ["ppo", "awr"])
def test_every_agent_setting_is_written_in_its_yaml(algo):
    """conf/algo validation follows the subclass's **kwargs into Agent's signature, and the YAML sets every
    keyword: the YAML is the one place each default is written."""
    import dataclasses

    import yaml

    from mimickit.config import schema_for

    written = yaml.safe_load((Path(CONF) / "algo" / f"{algo}.yaml").read_text())
    fields = {f.name for f in dataclasses.fields(schema_for(written["_target_"]))} - {"_partial_", "device"}
    assert fields == set(written)
