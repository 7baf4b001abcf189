"""algo.graph_update: each update phase's minibatch step replayed as a CUDA graph (mimickit/agents/graphed_step.py).

The CUDA tests skip without a GPU (CI has none: run them on the GPU machine); the CPU ones check that the option
changes nothing there and which phases may be graphed.
"""
from __future__ import annotations

import importlib.util

import pytest
import torch
from pendulum_agents import make_pendulum_agent, without_timings
from test_adversarial import make_agent

from mimickit.agents.graphed_step import (
    GraphedStep,
    batch_from_tensors,
    batch_tensors,
    make_capturable,
)
from mimickit.agents.replay_buffer import ReplayBuffer
from mimickit.agents.storage import Batch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _rows(agent):
    return [without_timings(row) for row in agent.logger.rows]


def test_graph_update_changes_nothing_on_the_cpu(tmp_path):
    rows = {}
    for flag in ("false", "true"):
        agent = make_pendulum_agent("ppo", tmp_path / flag, [f"algo.graph_update={flag}"])
        agent.train(max_iters=3)
        assert not agent._graphed_steps
        rows[flag] = _rows(agent)
    assert len(rows["true"]) == len(rows["false"])
    for graphed, eager in zip(rows["true"], rows["false"]):
        assert graphed == pytest.approx(eager, rel=0, abs=0, nan_ok=True)


@pytest.mark.parametrize("overrides, actor_graphed", [
    ((), True),
    (("algo.max_kl=0.1",), True),            # decided on the device: the step is undone, not the loop left
    (("algo.desired_kl=0.01",), False),      # a learning rate that changes every iteration
])
def test_ppo_graphs_its_actor_unless_its_learning_rate_changes(tmp_path, overrides, actor_graphed):
    agent = make_pendulum_agent("ppo", tmp_path, overrides)
    assert agent.graphable_phase(agent.phase("critic"))
    assert agent.graphable_phase(agent.phase("actor")) == actor_graphed


def test_an_autocast_phase_stays_eager(tmp_path):
    agent = make_pendulum_agent("ppo", tmp_path, ["algo.update.critic.autocast=bf16"])
    assert not agent.graphable_phase(agent.phase("critic"))


def test_make_capturable_puts_adams_step_counts_on_the_parameters_device():
    param = torch.nn.Parameter(torch.ones(3))
    adam = torch.optim.Adam([param], lr=0.1)
    param.grad = torch.ones(3)
    adam.step()
    make_capturable(adam)
    assert adam.param_groups[0]["capturable"]
    assert adam.state[param]["step"].device == param.device and float(adam.state[param]["step"]) == 1.0
    sgd = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    make_capturable(sgd)  # nothing to set: SGD captures as it is
    assert "capturable" not in sgd.param_groups[0]


def test_captured_inputs_rebuild_the_batch_field_by_field():
    """The graph's static inputs are the batch's tensors in `batch_tensors` order; rebuilt, each lands in its field."""
    batch = Batch(*(torch.full((2,), float(i)) for i in range(6)),
                  extras={"z": torch.full((2, 3), 7.0), "demo": torch.full((2, 4), 6.0)})
    rebuilt = batch_from_tensors(batch, [t.clone() for t in batch_tensors(batch)])
    for name in ("obs", "action", "log_prob", "value", "target_return", "advantage"):
        assert torch.equal(getattr(rebuilt, name), getattr(batch, name)), name
    assert rebuilt.extras.keys() == batch.extras.keys()
    assert all(torch.equal(rebuilt.extras[k], batch.extras[k]) for k in batch.extras)


@cuda
@pytest.mark.parametrize("algo, overrides", [("ppo", []), ("awr", []),
                                             ("ppo", ["algo.max_kl=0.001"])])  # steps undone inside the graph
def test_graphed_updates_match_eager_ones_on_the_gpu(tmp_path, algo, overrides):
    """Same seed, same rollouts, the same arithmetic: graphed and eager runs log the same losses."""
    rows = {}
    for flag in ("false", "true"):
        agent = make_pendulum_agent(algo, tmp_path / flag, [f"algo.graph_update={flag}", *overrides], device="cuda")
        agent.train(max_iters=4)
        rows[flag] = _rows(agent)
        if flag == "true":
            assert all(step._graph is not None for step in agent._graphed_steps.values())
            assert set(agent._graphed_steps) == {"critic", "actor"}
    assert len(rows["true"]) == len(rows["false"])
    for graphed, eager in zip(rows["true"], rows["false"]):
        assert graphed == pytest.approx(eager, rel=1e-3, abs=1e-5, nan_ok=True)


@cuda
def test_a_graphed_step_follows_parameters_and_inputs_updated_in_place():
    """A least-squares step with fused Adam: the replayed graph gives what eager steps give on the same batches."""
    torch.manual_seed(0)
    batches = [Batch(*(torch.randn(64, 4, device="cuda") if i < 2 else torch.randn(64, device="cuda")
                       for i in range(6))) for _ in range(8)]
    results = []
    for graphed in (False, True):
        model = torch.nn.Linear(4, 4).cuda()
        model.weight.data.fill_(0.1), model.bias.data.zero_()
        adam = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)

        def step(batch, model=model, adam=adam):
            loss = (model(batch.obs) - batch.action).square().mean()
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
            return {"loss": loss.detach()}

        if graphed:
            make_capturable(adam)
            step = GraphedStep(step, batch_size=64, warmup_steps=2)
        losses = [float(step(b)["loss"]) for b in batches]
        results.append((losses, model.weight.detach().clone()))
    (eager_losses, eager_weight), (graph_losses, graph_weight) = results
    assert graph_losses == pytest.approx(eager_losses, rel=1e-5)
    torch.testing.assert_close(graph_weight, eager_weight)


@cuda
def test_a_captured_replay_sample_reaches_rows_added_after_the_capture():
    buffer = ReplayBuffer(100, {"x": 1}, num_replace=10, overwrite="random", device="cuda")
    buffer.add({"x": torch.zeros(40, 1, device="cuda")})
    batch = Batch(*(torch.zeros(1, device="cuda") for _ in range(6)))
    step = GraphedStep(lambda b: {"drawn": buffer.sample(4096)["x"] + b.obs}, batch_size=1, warmup_steps=1)
    step(batch), step(batch)  # warm-up, then capture and replay
    assert float(step(batch)["drawn"].max()) == 0.0
    buffer.add({"x": torch.ones(60, 1, device="cuda")})  # the rest of the buffer, marked 1
    drawn = step(batch)["drawn"]
    assert 0.5 < float(drawn.mean()) < 0.7  # 60 of the 100 rows


MJWARP = pytest.mark.skipif(importlib.util.find_spec("mujoco_warp") is None or not torch.cuda.is_available(),
                            reason="needs mujoco_warp and a CUDA device")


@MJWARP
@pytest.mark.parametrize("experiment", ["amp_humanoid_locomotion", "add_humanoid_spinkick", "ase_humanoid_pretrain"])
def test_adversarial_presets_train_with_graphed_updates_on_the_gpu(tmp_path, experiment):
    agent = make_agent(experiment, tmp_path, "sim=mjwarp", "device=cuda", "algo.graph_update=true",
                       "test_episodes=0", "algo.iters_per_output=3", device="cuda")
    agent.train(max_iters=3)
    graphed = {name for name, step in agent._graphed_steps.items() if step._graph is not None}
    assert "disc" in graphed and "critic" in graphed
    assert all(torch.isfinite(torch.tensor(v)) for v in agent.logger.rows[-1].values() if isinstance(v, float))
