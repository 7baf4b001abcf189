"""ONNX export: the graph reproduces the torch policy (normaliser, actor mean, action mapping, PD targets) on
observations recorded in the env, and the metadata describes the env it came from."""
import json

import numpy as np
import onnxruntime
import pytest
import torch
from omegaconf import OmegaConf

from deploy_helpers import ROOT
from mimickit.deploy import metadata as md
from mimickit.tools import export_onnx
from mimickit.tools.export_onnx import load_policy

PARITY_TOL = 1e-5


@pytest.fixture(scope="module")
def policy(tiny_checkpoint):
    return load_policy(tiny_checkpoint)


@torch.no_grad()
def recorded_observations(policy, steps: int = 96) -> torch.Tensor:
    """Observations of stochastic episodes (the policy's own noise), resets included."""
    env, agent = policy.env, policy.agent
    obs, recorded = env.reset(), []
    for _ in range(steps):
        recorded.append(obs.clone())
        _, _, done, _ = env.step(agent._act(obs, deterministic=False).action)
        obs = env.reset_done(done)
    return torch.cat(recorded)


def test_cli_writes_the_graph_and_its_metadata(exported):
    onnx_path, stdout = exported
    assert onnx_path.is_file() and md.metadata_path(onnx_path).is_file()
    assert "max |diff|" in stdout and f"wrote {onnx_path}" in stdout
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["obs"]
    assert [o.name for o in session.get_outputs()] == ["action", "pd_target"]


def test_onnx_matches_the_torch_actor_on_recorded_observations(policy, exported):
    obs = recorded_observations(policy)
    obs = torch.cat([obs, 5.0 * obs])  # far outside the normaliser's range: its clip is in the graph too
    session = onnxruntime.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    action, target = session.run(["action", "pd_target"], {"obs": obs.numpy()})
    torch_action = policy.agent.policy_action(obs)
    np.testing.assert_allclose(action, torch_action.numpy(), rtol=0, atol=PARITY_TOL)
    np.testing.assert_allclose(target, policy.env.actions_to_targets(torch_action).numpy(), rtol=0, atol=PARITY_TOL)
    assert action.shape == (obs.shape[0], policy.env.action_dim)  # the batch dimension is free


def test_metadata_describes_the_env(policy, exported):
    meta = md.load_metadata(md.metadata_path(exported[0]))
    env, engine = policy.env, policy.env.engine
    assert meta["character"]["dof_names"] == engine.dof_names and meta["character"]["body_names"] == engine.body_names
    assert meta["character"]["contact_bodies"] == ["right_foot", "left_foot"]
    parts = meta["observation"]["parts"]
    assert [p["name"] for p in parts] == ["root_height", "body_pos", "body_rot", "body_lin_vel", "body_ang_vel",
                                          "target_poses", "phase"]
    assert sum(p["size"] for p in parts) == meta["observation"]["dim"] == env.obs_dim
    physics = meta["physics"]
    assert (physics["sim_freq"], physics["control_freq"], physics["substeps"]) == (120, 30, 4)
    assert physics["integrator"] == "implicitfast" and physics["control_mode"] == "pos"
    np.testing.assert_allclose(np.array(physics["servo_kv"]) + physics["passive_damping"], physics["kd"])
    assert meta["task"]["clips"][0]["file"] == "data/motions/procedural/humanoid_procedural.pkl"
    assert md.resolve_file(meta["character"]["mjcf"], meta, "mjcf").is_file()
    np.testing.assert_array_equal(meta["observation"]["normalizer"]["mean"], policy.agent.obs_normalizer.mean.float())
    json.dumps(meta)  # no NaN or infinity: unbounded values are null


def test_a_gpu_checkpoint_is_exported_on_the_cpu_engine_with_its_physics():
    sim = {"_target_": "mimickit.sim.mjwarp_engine.MjwarpEngine", "mjcf": "robot.xml", "num_envs": 4096,
           "device": "cuda", "sim_freq": 240, "control_freq": 30, "control_mode": "pos", "self_collision": False,
           "passive_damping_frac": 0.4, "pd_gains": None, "nconmax": None, "njmax": None, "graph": True}
    cfg = OmegaConf.create({"sim": sim})
    defaults = OmegaConf.load(ROOT / "conf" / "sim" / "mujoco.yaml")
    export_onnx._use_cpu_engine(cfg, OmegaConf.create({"sim": defaults}))
    assert cfg.sim._target_ == export_onnx.CPU_ENGINE and set(cfg.sim) == set(defaults)
    assert (cfg.sim.sim_freq, cfg.sim.self_collision, cfg.sim.passive_damping_frac) == (240, False, 0.4)
    assert (cfg.sim.num_envs, cfg.sim.device, cfg.sim.mjcf) == (1, "cpu", "robot.xml")


def test_cli_needs_a_checkpoint():
    with pytest.raises(SystemExit, match="model_file"):
        export_onnx.parse_args(["output=x.onnx"])
