"""sim2sim: the exported policy played in plain MuJoCo without torch, its observation rebuilt in numpy, gives the
training env's observations, physics and tracking error.

Layout errors show in the first observation; the reference (numpy motion library) is checked against MotionLib at
many times; the rebuilt model steps bit-identically to the training engine's from the same state and targets. The closed loop then
differs from test mode's only by float32 rounding (the observations' arithmetic, ONNX's matmuls, ~1e-7), which a
falling character amplifies: test mode's episode length comes back exactly, its tracking error to TRACKING_TOL.
"""
import importlib.util
import json
import pickle
import re
import subprocess
import sys

import imageio
import numpy as np
import pytest
import torch

from deploy_helpers import ROOT, TINY, run_module
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.anim.motion_lib import MotionLib
from mimickit.deploy import metadata as md
from mimickit.deploy.kinematics import Skeleton
from mimickit.deploy.reference import Reference, load_clip
from mimickit.tools.export_onnx import export_policy, load_policy
from mimickit.tools.sim2sim import Sim2Sim

OBS_TOL = 1e-5
# m. Perturbing the training env's own actions by 1e-7 (float32 rounding) moves this tiny policy's tracking error by
# up to 3.8e-4 m (a bifurcation at step 52 of its 89), and sim2sim's lands in that spread (docs/deployment.md).
TRACKING_TOL = 1e-3
CLIP = "data/motions/procedural/humanoid_procedural.pkl"
MJCF = "data/assets/humanoid/capsule_humanoid.xml"


@pytest.fixture(scope="module")
def policy(tiny_checkpoint):
    """The checkpoint in the training env, episodes starting at the clip's start (as sim2sim's)."""
    return load_policy(tiny_checkpoint, ["env.rand_reset=false"])


@pytest.fixture(scope="module")
def runner(exported):
    return Sim2Sim(exported[0])


def test_runs_without_torch(exported):
    code = ("import runpy, sys; sys.argv = ['sim2sim', 'onnx=%s', 'steps=5'];"
            "runpy.run_module('mimickit.tools.sim2sim', run_name='__main__');"
            "assert 'torch' not in sys.modules, 'torch was imported'" % exported[0])
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"episode_length=\d+ tracking_error=[\d.]+ end=\w+", out.stdout), out.stdout


@pytest.mark.parametrize("start_time", [0.0, 0.37, 1.05])
def test_first_observation_matches_the_env(policy, runner, start_time):
    env = policy.env
    env_obs = env.reset_to(torch.zeros(1, dtype=torch.long), torch.full((1,), start_time))
    np.testing.assert_allclose(runner.reset(start_time), env_obs[0].numpy(), rtol=0, atol=OBS_TOL)


def test_observations_and_errors_match_along_an_episode(policy, runner):
    """Both worlds driven by the env's policy's PD targets: observations, tracking errors and the episode's end."""
    env, agent = policy.env, policy.agent
    obs = env.reset()
    runner.reset(0.0)
    for step in range(200):
        with torch.no_grad():
            target = env.actions_to_targets(agent.policy_action(obs))
        obs, _, done, info = env.step(agent.policy_action(obs))
        error, end = runner.step(target[0].double().numpy())
        np.testing.assert_allclose(runner.observe(), obs[0].numpy(), rtol=0, atol=OBS_TOL, err_msg=f"step {step}")
        assert error == pytest.approx(float(info["episode/tracking_error"][0]), abs=OBS_TOL)
        assert (end is not None) == bool(done[0] != 0), f"step {step}: sim2sim {end}, env {int(done[0])}"
        if end is not None:
            break
    assert step > 5


def test_model_steps_bit_identically_to_the_engine(policy, runner):
    import mujoco

    engine, sim = policy.env.engine, runner.sim
    policy.env.reset()
    mujoco.mj_resetData(sim.model, sim.data)
    sim.data.qpos[:], sim.data.qvel[:] = engine._qpos[0], engine._qvel[0]
    mujoco.mj_forward(sim.model, sim.data)
    generator = torch.Generator().manual_seed(0)
    for _ in range(40):
        target = policy.env.actions_to_targets(0.5 * torch.randn(1, engine.num_dofs, generator=generator))
        engine.set_actions(target)
        engine.step()
        sim.step(target[0].double().numpy())
    np.testing.assert_array_equal(sim.data.qpos, engine._qpos[0])
    np.testing.assert_array_equal(sim.data.qvel, engine._qvel[0])


def test_tracking_error_matches_test_mode(tiny_checkpoint, exported, tmp_path):
    out = run_module("mimickit.run", "mode=test", f"model_file={tiny_checkpoint}", "num_envs=1", "test_episodes=1",
                     "env.rand_reset=false", "sim.nthread=1", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    test_mode = json.loads((tmp_path / "metrics.json").read_text())
    out = run_module("mimickit.tools.sim2sim", f"onnx={exported[0]}")
    assert out.returncode == 0, out.stderr[-3000:]
    found = re.search(r"episode_length=(\d+) tracking_error=([\d.]+)", out.stdout)
    assert int(found[1]) == test_mode["episode_length"]
    assert float(found[2]) == pytest.approx(test_mode["episode/tracking_error"], abs=TRACKING_TOL)


MIMICKIT_FALL_RULE = ["env.contact_force_source=floor", "env.contact_force_threshold=0.1", "env.contact_height=null",
                      "env.pose_termination_metric=max"]


def test_mimickits_fall_rule_ends_the_episode_where_test_mode_does(tiny_checkpoint, tmp_path):
    """A policy exported with MimicKit's termination (floor contacts, any component > 0.1 N, any height; the
    farthest body): sim2sim reads the floor forces from the same per-body floor sensors as the CPU engine and ends
    the episode at the same step as test mode, with the same tracking error."""
    onnx_path = tmp_path / "floor.onnx"
    out = run_module("mimickit.tools.export_onnx", f"model_file={tiny_checkpoint}", f"output={onnx_path}",
                     *MIMICKIT_FALL_RULE)
    assert out.returncode == 0, out.stderr[-3000:]
    assert md.load_metadata(md.metadata_path(onnx_path))["task"]["contact_force_source"] == "floor"
    out = run_module("mimickit.run", "mode=test", f"model_file={tiny_checkpoint}", "num_envs=1", "test_episodes=1",
                     "env.rand_reset=false", "sim.nthread=1", *MIMICKIT_FALL_RULE, f"hydra.run.dir={tmp_path / 'test'}")
    assert out.returncode == 0, out.stderr[-3000:]
    test_mode = json.loads((tmp_path / "test" / "metrics.json").read_text())
    out = run_module("mimickit.tools.sim2sim", f"onnx={onnx_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    found = re.search(r"episode_length=(\d+) tracking_error=([\d.]+) end=(\w+)", out.stdout)
    assert int(found[1]) == test_mode["episode_length"] and found[3] == "fail"
    assert float(found[2]) == pytest.approx(test_mode["episode/tracking_error"], abs=TRACKING_TOL)


def test_contacts_the_reference_allows_are_allowed_in_sim2sim_as_in_test_mode(tiny_checkpoint, tmp_path):
    """With `ref_contact_height` above every reference body (2 m), no contact is a fall: MimicKit's contact rule no
    longer ends the tiny policy's episode, and sim2sim plays the same episode length as test mode."""
    floor = (*MIMICKIT_FALL_RULE, "env.pose_termination=false")  # a fall is the only failure
    rule = (*floor, "env.ref_contact_height=2.0")
    onnx_path = tmp_path / "ref.onnx"
    out = run_module("mimickit.tools.export_onnx", f"model_file={tiny_checkpoint}", f"output={onnx_path}", *rule)
    assert out.returncode == 0, out.stderr[-3000:]
    assert md.load_metadata(md.metadata_path(onnx_path))["task"]["ref_contact_height"] == 2.0
    lengths = {}
    for name, overrides in (("floor", floor), ("ref", rule)):
        out = run_module("mimickit.run", "mode=test", f"model_file={tiny_checkpoint}", "num_envs=1", "test_episodes=1",
                         "env.rand_reset=false", "sim.nthread=1", *overrides, f"hydra.run.dir={tmp_path / name}")
        assert out.returncode == 0, out.stderr[-3000:]
        lengths[name] = json.loads((tmp_path / name / "metrics.json").read_text())["episode_length"]
    assert lengths["ref"] > lengths["floor"]
    out = run_module("mimickit.tools.sim2sim", f"onnx={onnx_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(re.search(r"episode_length=(\d+)", out.stdout)[1]) == lengths["ref"]


def test_floor_contact_forces_are_the_contact_forces_of_a_character_standing_on_its_feet(exported):
    from mimickit.deploy.physics import Simulation, build_model

    meta = md.load_metadata(md.metadata_path(exported[0]))
    char, physics = meta["character"], meta["physics"]
    model, actuator_dof_ids = build_model(str(ROOT / MJCF), physics, char["dof_names"], floor_contact_sensors=True)
    sim = Simulation(model, actuator_dof_ids, int(physics["substeps"]))
    sim.set_default_state(np.array(char["default_qpos"]))
    for _ in range(10):
        sim.step(np.array(char["default_qpos"])[7:])
    floor, total = sim.floor_contact_forces(), sim.contact_forces()
    np.testing.assert_allclose(floor, total, atol=1e-2)
    feet = [char["body_names"].index(b) for b in ("right_foot", "left_foot")]
    assert floor[feet, 2].sum() > 0.5 * model.body_subtreemass[1] * 9.81


def test_video(exported, tmp_path):
    out = run_module("mimickit.tools.sim2sim", f"onnx={exported[0]}", "steps=4", f"video={tmp_path / 'run.mp4'}")
    assert out.returncode == 0, out.stderr[-3000:]
    reader = imageio.get_reader(tmp_path / "run.mp4")
    frames = [frame for frame in reader]  # not list(reader): its length is unknown (inf)
    reader.close()
    assert len(frames) == 5 and frames[0].shape == (480, 640, 3) and frames[0].std() > 10


def test_a_character_other_than_the_policy_is_refused(exported, tmp_path):
    meta = json.loads(md.metadata_path(exported[0]).read_text())
    dofs = meta["character"]["dof_names"]
    dofs[0], dofs[1] = dofs[1], dofs[0]
    (tmp_path / "policy.onnx").write_bytes(exported[0].read_bytes())
    (tmp_path / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="dof_names differ"):
        Sim2Sim(tmp_path / "policy.onnx")


@pytest.mark.parametrize("loop_mode", [1, 0])
def test_reference_matches_the_motion_library(tmp_path, loop_mode):
    clip = pickle.loads((ROOT / CLIP).read_bytes())
    path = tmp_path / "clip.pkl"
    path.write_bytes(pickle.dumps({**clip, "loop_mode": loop_mode}))
    lib = MotionLib(str(path), KinematicCharacter(MJCF), min_fps=60.0)
    ref = Reference(load_clip(path), Skeleton(str(ROOT / MJCF)), 60.0)
    times = np.linspace(0.0, 2.3 * float(lib.motion_lengths[0]), 301, dtype=np.float32)  # past the end: wrap, clamp
    expected = lib.calc_motion_frame(torch.zeros(len(times), dtype=torch.long), torch.from_numpy(times))
    got = ref.frame_at(times)
    for name in ("root_pos", "root_rot", "root_lin_vel", "root_ang_vel", "dof_pos", "dof_vel", "body_pos", "body_rot"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name).numpy(), rtol=0, atol=OBS_TOL,
                                   err_msg=name)


@pytest.fixture(scope="module")
def g1_policy(tmp_path_factory):
    """A tiny DeepMimic policy of the G1 (hinge joints only, YAML gains and armature) on a standing clip, exported."""
    if importlib.util.find_spec("mjlab") is None:
        pytest.skip("the G1 MJCF (mjlab) is not installed: make install")
    from omegaconf import OmegaConf

    from mimickit.sim.character import build_character

    robot = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "robot" / "g1.yaml"))
    qpos = build_character(robot["mjcf"], pd_gains=robot["pd_gains"]).default_qpos  # T-pose 1 cm above the floor
    run_dir = tmp_path_factory.mktemp("g1_run")
    clip = run_dir / "g1_stand.pkl"
    frame = [*qpos[:3], 0.0, 0.0, 0.0, *qpos[7:]]
    clip.write_bytes(pickle.dumps({"loop_mode": 1, "fps": 30, "frames": [frame, frame]}))
    out = run_module("mimickit.run", "experiment=deepmimic_g1_ppo", f"motion.motion_file={clip}", *TINY,
                     f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    # experiment= on the command line sets every key of the preset, its clip too: name the trained clip again
    policy = load_policy(run_dir / "model.pt", ["experiment=deepmimic_g1_ppo", f"motion.motion_file={clip}",
                                                "env.rand_reset=false"])
    onnx_path, _, _ = export_policy(policy, run_dir / "g1.onnx")
    return policy, Sim2Sim(onnx_path)


def test_g1_plays_as_in_the_training_env(g1_policy):
    policy, runner = g1_policy
    env, agent = policy.env, policy.agent
    obs = env.reset()
    np.testing.assert_allclose(runner.reset(0.0), obs[0].numpy(), rtol=0, atol=OBS_TOL)
    errors = []
    for _ in range(300):
        with torch.no_grad():
            obs, _, done, info = env.step(agent.policy_action(obs))
        errors.append(float(info["episode/tracking_error"][0]))
        if done[0] != 0:
            break
    result = runner.run_episode(0.0)
    assert result.length == len(errors) and result.end == ("fail" if done[0] == 1 else "time")
    assert result.tracking_error == pytest.approx(np.mean(errors), abs=TRACKING_TOL)
