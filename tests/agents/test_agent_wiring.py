"""How the loop maps actions onto env bounds and sizes its minibatches."""
import math

import pytest
import torch

from mimickit.agents.ppo import PPOAgent
from mimickit.envs.base_env import BaseEnv, DoneFlags


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


def _agent(env, **kwargs):
    model = {"actor_hidden_dims": [8], "critic_hidden_dims": [8], "actor_output_scale": None}
    return PPOAgent(env=env, model=model, actor_optimizer={"name": "sgd", "lr": 0.0},
                    critic_optimizer={"name": "sgd", "lr": 0.0}, **kwargs)


def test_policy_actions_map_onto_the_bounds_and_only_bounded_dims_are_penalised():
    agent = _agent(BoxEnv(), actor_batch_size=1.5, critic_batch_size=0.5)
    assert agent.actor_batch_size == 6 and agent.critic_batch_size == 2  # multiples of num_envs = 4
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
    with pytest.raises(ValueError, match="low < high"):
        _agent(BoxEnv(low=(1.0, 0.0), high=(1.0, 1.0)))
    with pytest.raises(ValueError, match="steps_per_iter must be positive"):
        _agent(BoxEnv(), steps_per_iter=0)
    with pytest.raises(TypeError, match="hidden_dim"):
        PPOAgent(env=BoxEnv(), model={"hidden_dim": [8]})


@pytest.mark.parametrize("target", ["mimickit.agents.ppo.PPOAgent", "mimickit.agents.awr.AWRAgent"])
def test_config_schema_covers_the_loop_settings_through_kwargs(target):
    """conf/algo validation follows the subclass's **kwargs into Agent's signature: every loop setting is typed."""
    import dataclasses
    import inspect

    from mimickit.agents.agent import Agent
    from mimickit.config import RUNTIME_ARGS, schema_for

    fields = {f.name: f for f in dataclasses.fields(schema_for(target))}
    for name, param in inspect.signature(Agent.__init__).parameters.items():
        if name in ("self", "env") or name in RUNTIME_ARGS:
            continue
        assert name in fields and fields[name].default == param.default, name
