"""The contact-fall rule of the character envs (`CharEnv`, conf/env/*.yaml): today's default (force norm of floor and
self contacts > 1 N on a body whose origin is below 0.15 m) and MimicKit's (any floor-force component > 0.1 N, no
height test), on the CPU engine."""
import copy
from pathlib import Path

import mujoco
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException

from mimickit.config import register_configs
from mimickit.envs.base_env import DoneFlags
from mimickit.envs.char_env import ContactForceSource, compute_fall
from mimickit.run import build_env, validate
from mimickit.sim.character import compute_default_qpos
from mimickit.sim.engine import CharState
from test_deepmimic_env import reference_actions

ROOT = Path(__file__).resolve().parents[2]
MIMICKIT_RULE = ("env.pose_termination_metric=max", "env.contact_force_source=floor",
                 "env.contact_force_threshold=0.1", "env.contact_height=null")
CONTACT_ENVS = ("deepmimic", "add", "amp", "ase", "task_location", "task_steering")


def make_env(*overrides, num_envs=2):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "motion=procedural_walk", "sim.nthread=1", f"num_envs={num_envs}",  # conf/env/deepmimic.yaml's own rule
            "env.pose_termination=false", *overrides])
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


def inverted_state(engine) -> CharState:
    """Upside-down T-pose resting on its head (5 mm into the floor), at rest, in every env."""
    model = copy.deepcopy(engine.mj_model)
    model.qpos0[3:7] = [0.0, 1.0, 0.0, 0.0]  # 180 degrees about x, wxyz
    qpos = torch.as_tensor(compute_default_qpos(model, clearance=-0.005), dtype=torch.float32)
    qpos = qpos.expand(engine.num_envs, -1)
    rot = torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(engine.num_envs, -1)  # xyzw
    return CharState.at_rest(qpos[:, 0:3], rot, qpos[:, 7:])


def crossed_thighs_state(engine, height: float = 1.0) -> CharState:
    """The T-pose `height` m up with the thighs pressed into each other: a self contact and no floor contact."""
    dof_pos = engine.dof_pos().clone()
    dof_pos[:, engine.dof_id("right_hip_x")] = 0.3
    dof_pos[:, engine.dof_id("left_hip_x")] = -0.3
    root_pos = engine.root_pos().clone()
    root_pos[:, 2] += height
    return CharState.at_rest(root_pos, engine.root_rot().clone(), dof_pos)


def step_from(env, state: CharState) -> torch.Tensor:
    """The done flags of one env step from `state`, the actions holding its pose."""
    env.reset()
    env.engine.set_state(torch.arange(env.num_envs), state)
    actions = (state.dof_pos - env._action_offset) / env._action_scale
    return env.step(actions)[2]


def test_head_strike_is_a_fall_for_mimickits_rule_only():
    """Inverted on its head, every body origin is above 0.15 m: today's rule misses the fall, MimicKit's ends it."""
    default = make_env()
    state = inverted_state(default.engine)
    done = step_from(default, state)
    head = default.engine.body_id("head")
    assert default.engine.body_pos()[:, :, 2].min().item() > 0.15  # no body origin below the default height gate
    assert default.engine.contact_forces()[:, head, 2].min().item() > 1.0
    assert (done == DoneFlags.NULL).all(), done

    mimickit = make_env(*MIMICKIT_RULE)
    assert mimickit.contact_force_source is ContactForceSource.floor and mimickit.contact_height is None
    done = step_from(mimickit, state)
    assert (mimickit.engine.floor_contact_forces()[:, head, 2] > 1.0).all()
    assert (done == DoneFlags.FAIL).all(), done


def test_self_contact_is_no_fall_with_floor_forces():
    """Airborne with the thighs pressed together: counted as contact from all forces (no height gate), not from
    floor forces."""
    everything = make_env("env.contact_height=null")
    done = step_from(everything, crossed_thighs_state(everything.engine))
    assert everything.engine.root_pos()[:, 2].min().item() > 1.0
    assert (done == DoneFlags.FAIL).all(), done

    floor_only = make_env("env.contact_height=null", "env.contact_force_source=floor",
                          "env.contact_force_threshold=0.1")
    done = step_from(floor_only, crossed_thighs_state(floor_only.engine))
    thighs = floor_only.engine.body_ids(["right_thigh", "left_thigh"])
    assert (floor_only.engine.contact_forces()[:, thighs].norm(dim=-1) > 1.0).all()
    assert (done == DoneFlags.NULL).all(), done


def test_floor_rule_tests_any_component_and_the_plain_rule_the_norm():
    body_pos = torch.ones(1, 2, 3)
    forces = torch.tensor([[[0.0, 0.0, 0.0], [0.08, 0.08, 0.08]]])  # norm 0.139, every component below 0.1
    mask = torch.tensor([False, True])
    assert compute_fall(body_pos, forces, mask, None, threshold=0.1).item()
    assert not compute_fall(body_pos, forces, mask, None, threshold=0.1, any_component=True).item()
    forces[0, 1, 2] = -0.2  # a negative component counts by its magnitude
    assert compute_fall(body_pos, forces, mask, None, threshold=0.1, any_component=True).item()
    assert not compute_fall(body_pos, forces, mask, 0.5, threshold=0.1, any_component=True).item()  # origin at 1 m


@pytest.mark.parametrize("name", CONTACT_ENVS)
def test_env_configs_default_to_todays_rule(name):
    conf = yaml.safe_load((ROOT / "conf" / "env" / f"{name}.yaml").read_text())
    assert (conf["contact_height"], conf["contact_force_source"], conf["contact_force_threshold"]) == (0.15, "all", 1.0)


def test_default_env_builds_no_floor_sensors_and_bad_sources_are_rejected():
    env = make_env()
    assert env.contact_force_source is ContactForceSource.all and env.contact_height == 0.15
    sensors = [env.engine.mj_model.sensor(i).name for i in range(env.engine.mj_model.nsensor)]
    assert not any(name.startswith("mimickit_floor_") for name in sensors)
    assert env.engine.mj_model.sensor_type[0] == mujoco.mjtSensor.mjSENS_ACCELEROMETER
    with pytest.raises(ValueError, match="contact_force_source"):
        make_env("env.contact_force_source=ground")


def test_bodies_the_reference_puts_on_the_ground_may_touch_it_with_ref_contact_height():
    """The get-up clip starts lying on the back: every body touching the floor is a fall for the feet-only rule, and
    none is with `ref_contact_height` (the reference's bodies lie as low); upside down on a standing clip the head
    strike stays a fall (its reference is 1.5 m up)."""
    lying = ("motion=getup_faceup", "env.rand_reset=false")
    env = make_env(*lying)
    env.reset()
    done = env.step(reference_actions(env))[2]
    assert (done == DoneFlags.FAIL).all(), done
    env = make_env(*lying, "env.ref_contact_height=0.3")
    env.reset()
    for _ in range(5):
        done = env.step(reference_actions(env))[2]
        assert (done == DoneFlags.NULL).all(), done
    standing = make_env(*MIMICKIT_RULE, "env.ref_contact_height=0.3")
    assert (step_from(standing, inverted_state(standing.engine)) == DoneFlags.FAIL).all()
    with pytest.raises(InstantiationException, match="ref_contact_height must be >= 0"):
        make_env("env.ref_contact_height=-0.1")

