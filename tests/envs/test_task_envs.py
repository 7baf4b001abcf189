"""The AMP task envs (env=task_location, env=task_steering) on the CPU engine: rewards against hand computations for
teleported characters, target changes within the configured intervals and at resets, task observations in the
heading frame, and the episode metrics the agent logs (`train/episode/...`).

A "step" here is often emulated: the character is teleported (`set_state`) and `_post_physics_step` runs as after
physics, so positions and velocities are exactly the ones chosen."""
import importlib.util
import math
import os

import numpy as np
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from mimickit.agents.episode_tracker import EpisodeTracker
from mimickit.anim import rotations as rot
from mimickit.config import register_configs
from mimickit.envs.base_env import DoneFlags
from mimickit.envs.task_common import EpisodeFinal, compute_tilt_deg
from mimickit.envs.task_location_env import ReachLog
from mimickit.envs.task_steering_env import SteeringErrorLog
from mimickit.run import build_env, validate
from mimickit.sim.engine import CharState
from mimickit.utils.paths import CONF_DIR

Z = torch.tensor([0.0, 0.0, 1.0])


def yaw(angle) -> torch.Tensor:
    angle = torch.as_tensor(angle, dtype=torch.float32)
    return rot.quat_from_axis_angle(Z.expand(*angle.shape, 3), angle)


def teleport(env, root_xy, heading, base=None):
    """Every env's character in the procedural walk's first pose, its root at `root_xy` (N, 2) and turned to
    `heading` (N,) radians (on top of the pose's own small yaw and tilt when `base` is the pose's root rotation)."""
    n = env.num_envs
    f = env.motion_lib.calc_motion_frame(torch.zeros(n, dtype=torch.long), torch.zeros(n), with_bodies=False)
    root_pos = torch.cat([torch.as_tensor(root_xy, dtype=torch.float32), f.root_pos[:, 2:]], dim=-1)
    root_rot = yaw(heading) if base is None else rot.quat_mul(yaw(heading), base)
    env.engine.set_state(torch.arange(n), CharState.at_rest(root_pos, root_rot, f.dof_pos))


def emulated_step(env, root_xy, heading, base=None):
    """One control step whose result is the teleported state: the episode clock advances and `_post_physics_step`
    sees the root move from where it was to `root_xy`."""
    env.episode_step += 1
    teleport(env, root_xy, heading, base)
    return env._post_physics_step()


def make_env(env_name, *overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"env={env_name}", "motion=procedural_walk", *overrides])
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


def start(env_name, *overrides, num_envs=4):
    env = make_env(env_name, f"num_envs={num_envs}", "sim.nthread=1", *overrides)
    env.reset()
    return env


# ---- rewards ----
def test_location_reward_equals_a_hand_computation():
    env = start("task_location")
    dt = env.dt
    p1 = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, 3.0], [5.0, -1.0]])
    tar = p1 + torch.tensor([[3.0, 4.0], [0.6, 0.0], [0.0, 2.0], [-2.0, 0.0]])
    u = torch.nn.functional.normalize(tar - p1, dim=-1)
    # velocities: 0.5 m/s towards the target; 1 m/s away (but arrived); 1 m/s away; 2 m/s towards (faster than asked)
    vel = u * torch.tensor([[0.5], [-1.0], [-1.0], [2.0]])
    heading = torch.tensor([0.0, 0.0, math.pi / 2, 0.0])
    teleport(env, p1 - vel * dt, heading)
    env._post_physics_step()  # the "before" position of the next step
    env.tar_pos[:, :2] = tar
    step = emulated_step(env, p1, heading)
    reward, terms = env._compute_reward(step)

    e = math.exp
    expected = torch.tensor([
        0.5 * e(-0.5 * 25.0) + 0.4 * e(-4.0 * 0.5**2) + 0.1 * 0.6,  # facing +x, target along (0.6, 0.8)
        0.5 * e(-0.5 * 0.36) + 0.4 * 1.0 + 0.1 * 1.0,  # 0.36 m^2 < dist_threshold 0.5: vel and face are 1
        0.5 * e(-0.5 * 4.0) + 0.4 * 0.0 + 0.1 * 1.0,  # moving away: vel 0; facing +y, the target's direction
        0.5 * e(-0.5 * 4.0) + 0.4 * 1.0 + 0.1 * 0.0,  # faster than tar_speed is not penalised; facing away
    ])
    torch.testing.assert_close(reward, expected, atol=1e-5, rtol=0)
    info = env._compute_info(step, terms)
    torch.testing.assert_close(info["episode/reward_pos"], torch.exp(-0.5 * (tar - p1).square().sum(-1)))
    torch.testing.assert_close(info["episode/tar_dist"], (tar - p1).norm(dim=-1))


def test_steering_reward_equals_a_hand_computation():
    env = start("task_steering", num_envs=3)
    dt = env.dt
    env.tar_dir[:] = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    env.tar_speed[:] = torch.tensor([2.0, 1.0, 1.0])
    s = math.sqrt(0.5)
    env.face_dir[:] = torch.tensor([[1.0, 0.0], [s, s], [1.0, 0.0]])
    vel = torch.tensor([[1.5, 0.5], [-1.0, 0.0], [0.0, 1.0]])
    heading = torch.tensor([0.0, math.pi / 2, math.pi])
    p1 = torch.tensor([[0.0, 0.0], [2.0, -1.0], [1.0, 1.0]])
    teleport(env, p1 - vel * dt, heading)
    env._post_physics_step()
    reward, terms = env._compute_reward(emulated_step(env, p1, heading))
    expected = torch.tensor([
        0.7 * math.exp(-0.5 * 0.5) + 0.3 * 1.0,  # |(2, 0) - (1.5, 0.5)|^2 = 0.5; facing the target facing
        0.7 * 0.0 + 0.3 * s,  # moving against the target direction: 0; facing +y, 45 degrees off
        0.7 * 1.0 + 0.3 * 0.0,  # exactly the target velocity; facing -x, away from +x
    ])
    torch.testing.assert_close(reward, expected, atol=1e-5, rtol=0)
    assert set(terms) == {"vel", "face"}


# ---- targets ----
def _target_of(env):
    if hasattr(env, "tar_pos"):
        return env.tar_pos.clone()
    return torch.cat([env.tar_dir, env.tar_speed.unsqueeze(-1), env.face_dir], dim=-1)


@pytest.mark.parametrize("env_name", ["task_location", "task_steering"])
def test_targets_change_within_the_configured_intervals_and_at_resets(env_name):
    env = start(env_name, "env.tar_change_time_min=0.2", "env.tar_change_time_max=0.5",
                "env.enable_early_termination=false", num_envs=16)
    if env_name == "task_location":
        env.tar_dist_min, env.tar_dist_max = 1.0, 3.0
    lo, hi = round(0.2 / env.dt), round(0.5 / env.dt)  # 6 and 15 control steps
    last_change = torch.zeros(env.num_envs, dtype=torch.long)
    target = _target_of(env)
    intervals = []
    for k in range(1, 61):
        _, _, done, _ = env.step(torch.zeros(env.num_envs, env.action_dim))
        assert (done == DoneFlags.NULL).all()
        new = _target_of(env)
        changed = (new != target).any(-1)
        intervals += (k - last_change[changed]).tolist()
        last_change[changed] = k
        if env_name == "task_location":  # drawn around the root where it is now
            dist = (new[changed, :2] - env.engine.root_pos()[changed, :2]).norm(dim=-1)
            assert ((dist >= 1.0 - 1e-4) & (dist <= 3.0 + 1e-4)).all(), dist
        else:
            speed = new[changed, 2]
            assert ((speed >= env.tar_speed_min) & (speed <= env.tar_speed_max)).all()
            assert torch.equal(new[changed, :2], new[changed, 3:])  # rand_face_dir false: face the target direction
        target = new
        # a target that has not changed is still within its interval
        assert ((k - last_change) <= hi).all()
    assert len(intervals) > 3 * env.num_envs and min(intervals) >= lo and max(intervals) <= hi, intervals
    assert min(intervals) <= lo + 2 and max(intervals) >= hi - 2  # the whole range is drawn

    # episode resets draw new targets and restart their clocks; the other envs keep theirs
    reset = torch.arange(env.num_envs) % 2 == 0
    change_time = env.clock.change_time.clone()
    env.reset_done(torch.where(reset, DoneFlags.TIME.value, DoneFlags.NULL.value))
    new = _target_of(env)
    assert (new[reset] != target[reset]).any(-1).all()
    assert torch.equal(new[~reset], target[~reset])
    assert torch.equal(env.clock.change_time[~reset], change_time[~reset])
    assert ((env.clock.change_time[reset] >= 0.2) & (env.clock.change_time[reset] <= 0.5)).all()
    if env_name == "task_location":
        dist = (new[reset, :2] - env.engine.root_pos()[reset, :2]).norm(dim=-1)
        assert ((dist >= 1.0 - 1e-4) & (dist <= 3.0 + 1e-4)).all()


def test_steering_without_random_directions_keeps_plus_x():
    env = start("task_steering", "env.rand_tar_dir=false")
    assert torch.equal(env.tar_dir, torch.tensor([[1.0, 0.0]]).expand(4, 2))
    assert torch.equal(env.face_dir, env.tar_dir)


# ---- observations ----
def test_location_obs_is_the_target_in_the_heading_frame():
    env = start("task_location", num_envs=3)
    f = env.motion_lib.calc_motion_frame(torch.zeros(3, dtype=torch.long), torch.zeros(3), with_bodies=False)
    root_xy = torch.tensor([[0.0, 0.0], [1.0, -2.0], [3.0, 3.0]])
    env.tar_pos[:, :2] = root_xy + torch.tensor([[2.0, 0.0], [0.0, 1.5], [-1.0, -1.0]])
    teleport(env, root_xy, torch.zeros(3), base=f.root_rot)
    obs = env._compute_obs()
    assert obs.shape == (3, env.obs_dim) and env.obs_dim == 140 + 2
    local = obs[:, -2:]
    expected = rot.quat_rotate(rot.heading_quat_inv(f.root_rot), env.tar_pos - env.engine.root_pos())[:, :2]
    torch.testing.assert_close(local, expected)

    # turn the character by alpha about its root: the target it sees turns by -alpha
    alpha = torch.tensor([0.7, -2.0, math.pi])
    teleport(env, root_xy, alpha, base=f.root_rot)
    turned = env._compute_obs()[:, -2:]
    c, s = torch.cos(-alpha), torch.sin(-alpha)
    torch.testing.assert_close(turned, torch.stack([c * local[:, 0] - s * local[:, 1],
                                                    s * local[:, 0] + c * local[:, 1]], dim=-1), atol=1e-5, rtol=0)
    assert (turned - local).abs().max() > 0.5
    # turning the target with it leaves the observation unchanged
    rel = env.tar_pos - env.engine.root_pos()
    env.tar_pos[:] = env.engine.root_pos() + rot.quat_rotate(yaw(alpha), rel)
    env.tar_pos[:, 2] = 0.0
    torch.testing.assert_close(env._compute_obs()[:, -2:], local, atol=1e-5, rtol=0)


def test_steering_obs_is_in_the_heading_frame():
    env = start("task_steering", num_envs=3)
    f = env.motion_lib.calc_motion_frame(torch.zeros(3, dtype=torch.long), torch.zeros(3), with_bodies=False)
    env.tar_dir[:] = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-0.6, 0.8]])
    env.face_dir[:] = torch.tensor([[0.0, -1.0], [1.0, 0.0], [0.6, 0.8]])
    env.tar_speed[:] = torch.tensor([0.5, 2.0, 4.0])
    teleport(env, torch.zeros(3, 2), torch.zeros(3), base=f.root_rot)
    obs = env._compute_obs()
    assert obs.shape == (3, 140 + 5)
    torch.testing.assert_close(obs[:, -3], env.tar_speed)
    base_heading = rot.heading_angle(f.root_rot)
    alpha = torch.tensor([1.0, -0.5, 2.5])
    teleport(env, torch.zeros(3, 2), alpha, base=f.root_rot)
    turned = env._compute_obs()
    for cols, world in ((slice(-5, -3), env.tar_dir), (slice(-2, None), env.face_dir)):
        angle = -(base_heading + alpha)  # world directions seen from the character's heading
        c, s = torch.cos(angle), torch.sin(angle)
        expected = torch.stack([c * world[:, 0] - s * world[:, 1], s * world[:, 0] + c * world[:, 1]], dim=-1)
        torch.testing.assert_close(turned[:, cols], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(turned[:, -3], env.tar_speed)


# ---- metrics ----
def test_episode_final_values_are_what_the_agent_logs():
    """Through the agent's EpisodeTracker, an EpisodeFinal key's episode mean is the running value at the last step,
    for episodes of different lengths and across a reset."""
    final, tracker = EpisodeFinal(2, torch.device("cpu")), EpisodeTracker(2, torch.device("cpu"))
    episode_step = torch.zeros(2, dtype=torch.long)
    values = torch.tensor([[0.0, 0.5], [1.0, 0.5], [0.5, 0.25], [0.25, 2.0], [3.0, 1.0], [1.5, 4.0]])
    ends = {2: [False, True], 5: [True, True]}  # env 1's first episode ends at step 2 (value 0.25), env 0's at 5
    for t, value in enumerate(values):
        episode_step += 1
        done = torch.tensor(ends.get(t, [False, False]))
        info = {"episode/x": final(value, episode_step)}
        tracker.update(torch.zeros(2), torch.where(done, DoneFlags.TIME.value, DoneFlags.NULL.value), info)
        episode_step[done] = 0
    # episodes: env 1 ends at 0.25 (3 steps), env 0 at 1.5 (6 steps), env 1 again at 4.0 (3 steps)
    summary = tracker.summary()
    assert summary["episodes"] == 3
    torch.testing.assert_close(summary["episode/x"], torch.tensor((0.25 + 1.5 + 4.0) / 3, dtype=torch.float64))


def test_reach_log_counts_targets_reached_before_they_change():
    log = ReachLog(3, torch.device("cpu"))
    log.observe(torch.tensor([True, False, False]))
    torch.testing.assert_close(log.share(), torch.tensor([1.0, 0.0, 0.0]))  # a running target counts once reached
    log.end_targets_where(torch.tensor([True, True, False]), torch.tensor([0.2, 4.0, 9.0]))
    torch.testing.assert_close(log.share(), torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(log.final_dist(torch.tensor([7.0, 7.0, 7.0])), torch.tensor([0.2, 4.0, 7.0]))
    log.observe(torch.tensor([False, True, False]))
    log.end_targets_where(torch.tensor([True, False, False]), torch.tensor([3.0, 0.0, 0.0]))
    torch.testing.assert_close(log.share(), torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(log.final_dist(torch.zeros(3)), torch.tensor([1.6, 4.0, 0.0]))
    log.reset_where(torch.tensor([True, False, False]))
    torch.testing.assert_close(log.share(), torch.tensor([0.0, 0.5, 0.0]))


def test_location_metrics_through_the_tracker():
    """A 10-step episode whose first targets change at step 5. Env 0 walks onto target A at step 3 and onto B at
    step 8: 2 of 2 reached. Env 1 stays put, 5 m from A, and B is put where it stands: 1 of 2. Distances left at the
    change: 0 and 5 m. Logged as episode means by the agent's tracker."""
    env = start("task_location", "env.tar_change_time_min=20", "env.tar_change_time_max=20", num_envs=2)
    tracker = EpisodeTracker(2, env.device)
    root = env.engine.root_pos()[:, :2].clone()
    env.tar_pos[:, :2] = root + torch.tensor([[2.0, 0.0], [5.0, 0.0]])
    for k in range(1, 11):
        env0 = [0.0, 0.0] if k < 3 else [2.0, 0.0] if k < 8 else [2.0, 2.0]
        if k == 5:
            env.clock.change_time[:] = 0.0  # the targets' time is up at this step
        step = emulated_step(env, root + torch.tensor([env0, [0.0, 0.0]]), torch.zeros(2))
        if k == 5:
            env.tar_pos[:, :2] = root + torch.tensor([[2.0, 2.0], [0.0, 0.0]])  # B, in place of the drawn ones
        reward, terms = env._compute_reward(step)
        done = torch.full((2,), DoneFlags.TIME.value if k == 10 else DoneFlags.NULL.value)
        tracker.update(reward, done, env._compute_info(step, terms))
    summary = tracker.summary()
    f64 = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(summary["episode/tar_reached"], f64((1.0 + 0.5) / 2))
    torch.testing.assert_close(summary["episode/tar_final_dist"], f64((0.0 + 5.0) / 2), atol=1e-5, rtol=0)
    # env 0: 2 m from A for 2 steps, on it for 3, 2 m from B for 2, on it for 3; env 1: 5 m for 5 steps, then 0
    torch.testing.assert_close(summary["episode/tar_dist"], f64((0.8 + 2.5) / 2), atol=1e-5, rtol=0)


def test_steering_errors_count_after_the_settle_time():
    """Target 1 asks for 1 m/s: the character runs at 3 m/s for the first 2 steps (not counted), then at 1.5 m/s,
    turned 30 degrees from the facing target. At step 12 target 2 asks for 2.5 m/s, which it then meets exactly.
    Logged: speed error (10 x 0.5 + 10 x 0) / 20 settled steps = 0.25 m/s, heading error 30 degrees."""
    env = start("task_steering", "env.metric_settle_time=0.09", "env.tar_change_time_min=20",
                "env.tar_change_time_max=20", num_envs=2)  # settled from the 3rd step after a change

    def set_target(speed):
        env.tar_dir[:] = torch.tensor([1.0, 0.0])
        env.face_dir[:] = torch.tensor([1.0, 0.0])
        env.tar_speed[:] = speed

    set_target(1.0)
    tracker = EpisodeTracker(2, env.device)
    xy = torch.zeros(2, 2)
    teleport(env, xy, torch.zeros(2))
    env._post_physics_step()
    env.episode_step.zero_()
    settle_steps = 3
    heading = math.radians(30.0) * torch.tensor([1.0, -1.0])
    for k in range(1, 25):
        speed = (3.0 if k < settle_steps else 1.5) if k <= 12 else 2.5
        if k == 12:
            env.clock.change_time[:] = 0.0
        xy = xy + torch.tensor([speed * env.dt, 0.0])
        step = emulated_step(env, xy, heading)
        if k == 12:
            set_target(2.5)
        done = torch.full((2,), DoneFlags.TIME.value if k == 24 else DoneFlags.NULL.value)
        tracker.update(torch.zeros(2), done, env._compute_info(step, {}))
    summary = tracker.summary()
    torch.testing.assert_close(summary["episode/speed_err"], torch.tensor(0.25, dtype=torch.float64), atol=1e-4,
                               rtol=0)
    torch.testing.assert_close(summary["episode/heading_err_deg"], torch.tensor(30.0, dtype=torch.float64),
                               atol=1e-3, rtol=0)


def test_steering_error_log():
    """The speed error is that of each target's mean speed (the stride's oscillation averages out), weighted by
    settled steps; an episode without settled steps reports per-step means."""
    log = SteeringErrorLog(2, torch.device("cpu"))
    tar = torch.tensor([1.5, 1.5])
    settled = torch.tensor([True, False])
    for speed, heading in ((1.0, 10.0), (2.0, 30.0), (1.0, 10.0), (2.0, 30.0)):
        log.add(torch.full((2,), speed), tar, torch.full((2,), heading), settled)
    speed_err, heading_err = log.means(tar)
    torch.testing.assert_close(speed_err, torch.tensor([0.0, 0.5]))
    torch.testing.assert_close(heading_err, torch.tensor([20.0, 20.0]))
    # env 0's target changes (4 settled steps, error 0); the next one, 3.0 m/s, is met at 2.0 for 2 steps
    log.end_targets_where(torch.tensor([True, False]), tar)
    tar = torch.tensor([3.0, 1.5])
    for _ in range(2):
        log.add(torch.full((2,), 2.0), tar, torch.zeros(2), settled)
    speed_err, _ = log.means(tar)
    torch.testing.assert_close(speed_err[0], torch.tensor((4 * 0.0 + 2 * 1.0) / 6))
    log.reset_where(torch.tensor([True, True]))
    torch.testing.assert_close(log.means(tar)[0], torch.zeros(2))


def test_upright_metrics():
    env = start("task_steering", num_envs=2)
    torch.testing.assert_close(compute_tilt_deg(torch.stack([yaw(1.0), rot.quat_from_axis_angle(
        torch.tensor([1.0, 0.0, 0.0]), torch.tensor(math.pi / 2))])), torch.tensor([0.0, 90.0]), atol=1e-4, rtol=0)
    _, _, _, info = env.step(torch.zeros(2, env.action_dim))
    torch.testing.assert_close(info["episode/root_height"], env.engine.root_pos()[:, 2])
    assert {"episode/tilt_deg", "episode/root_speed", "episode/reward_vel", "episode/reward_face",
            "episode/speed_err", "episode/heading_err_deg", "disc_obs"} <= set(info)


# ---- markers ----
def test_markers_follow_the_targets():
    env = start("task_location", num_envs=2)
    sphere, line = env.task_markers()
    assert sphere.shape == "sphere" and line.shape == "line"
    torch.testing.assert_close(sphere.start[:, :2], env.tar_pos[:, :2])
    torch.testing.assert_close(line.start[:, :2], env.engine.root_pos()[:, :2])
    env = start("task_steering", num_envs=2)
    heading, facing = env.task_markers()
    direction = torch.nn.functional.normalize((heading.end - heading.start)[:, :2], dim=-1)
    torch.testing.assert_close(direction, env.tar_dir)
    torch.testing.assert_close(torch.nn.functional.normalize((facing.end - facing.start)[:, :2], dim=-1),
                               env.face_dir)


# ---- GPU: the step and the reset captured in CUDA graphs must match the eager ones ----
DEVICE = os.environ.get("MIMICKIT_MJWARP_DEVICE", "cuda")


@pytest.mark.gpu
@pytest.mark.skipif(importlib.util.find_spec("mujoco_warp") is None or not torch.cuda.is_available(),
                    reason="needs mujoco_warp and a CUDA device")
@pytest.mark.parametrize("env_name", ["task_location", "task_steering"])
def test_graphed_task_env_matches_the_eager_one(env_name):
    """Fixed resets (12-step episodes, no falls) and target changes every 4-6 steps; the targets are drawn from
    the same default generator in both envs, seeded alike before each call."""
    same = ("sim=mjwarp", f"device={DEVICE}", "num_envs=64", "env.episode_length=0.4",
            "env.enable_early_termination=false", "env.rand_reset=false", "env.tar_change_time_min=0.15",
            "env.tar_change_time_max=0.2")
    graphed = make_env(env_name, "sim.graph=true", *same)
    eager = make_env(env_name, "sim.graph=false", *same)
    torch.manual_seed(3)
    graphed.reset()
    torch.manual_seed(3)
    eager.reset()
    gen = torch.Generator(device=DEVICE).manual_seed(1)
    for k in range(40):
        actions = 0.3 * torch.randn(64, graphed.action_dim, device=DEVICE, generator=gen)
        torch.manual_seed(100 + k)
        obs_g, reward_g, done_g, info_g = graphed.step(actions)
        torch.manual_seed(100 + k)
        obs_e, reward_e, done_e, info_e = eager.step(actions)
        torch.testing.assert_close(obs_g, obs_e, atol=2e-3, rtol=1e-3)
        torch.testing.assert_close(reward_g, reward_e, atol=2e-3, rtol=1e-3)
        assert torch.equal(done_g, done_e)
        for key in info_e:
            torch.testing.assert_close(info_g[key], info_e[key], atol=5e-2, rtol=1e-2, msg=key)
        torch.manual_seed(200 + k)
        graphed.reset_done(done_g)
        torch.manual_seed(200 + k)
        eager.reset_done(done_e)
        torch.testing.assert_close(_target_of(graphed), _target_of(eager), atol=2e-3, rtol=1e-3)


def test_the_location_presets_speed_leaves_room_for_90_percent_of_targets():
    """scripts/location_ceiling.py: at MimicKit's 1 m/s a character reaches at most ~76 % of the targets before they
    change, too few for the 90 % goal; the preset's 1.5 m/s leaves room for it."""
    spec = importlib.util.spec_from_file_location("location_ceiling", CONF_DIR.parent / "scripts" / "location_ceiling.py")
    ceiling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ceiling)
    cfg = yaml.safe_load(ceiling.TASK_CONFIG.read_text())
    rng = np.random.default_rng(0)
    assert 0.70 < ceiling.reachable_share(1.0, cfg, turn=0.7, episodes=4000, rng=rng) < 0.82
    preset = yaml.safe_load((CONF_DIR / "experiment" / "amp_humanoid_location.yaml").read_text())
    assert ceiling.reachable_share(preset["env"]["tar_speed"], cfg, turn=0.7, episodes=4000, rng=rng) > 0.92
