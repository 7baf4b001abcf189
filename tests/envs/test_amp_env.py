"""AMP env on the CPU engine: the discriminator observation of the simulated character equals the motion library's
for the same clip and times, its layout, heading invariance, the history across steps and resets, and the dataset."""
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from mimickit.anim import rotations as rot
from mimickit.config import register_configs
from mimickit.envs.base_env import DoneFlags
from mimickit.envs.disc_obs import (
    DiscFrames,
    compute_disc_obs,
    disc_obs_frame_parts,
    disc_obs_frame_size,
    engine_disc_frame,
    motion_disc_frames,
    window_times,
)
from mimickit.run import build_env, validate
from mimickit.sim.engine import CharState

ROOT = Path(__file__).resolve().parents[2]
CONVERTED = ROOT / "data" / "motions" / "humanoid"
needs_clips = pytest.mark.skipif(
    not (CONVERTED / "humanoid_amp_run.pkl").is_file(), reason=f"no converted clips in {CONVERTED} (`make data`)"
)


def make_env(*overrides, env="amp", motion="procedural_walk"):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"env={env}", f"motion={motion}", "sim.nthread=1", *overrides])
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


def set_clip_state(env, motion_ids, times):
    """Teleport every env to its clip's frame at `times`, velocities included (the engine then reports exactly
    the library's finite-difference velocities)."""
    f = env.motion_lib.calc_motion_frame(motion_ids, times, with_bodies=False)
    env.engine.set_state(torch.arange(env.num_envs), f.char_state())


def play_window(env, motion_ids, times0):
    """Put the simulator on the clip frames of the windows ending at `times0`, one control frame after another, each
    recorded into the history as a step records it."""
    times = window_times(times0, env.num_disc_obs_steps, env.dt)
    for k in range(env.num_disc_obs_steps):
        set_clip_state(env, motion_ids, times[:, k])
        env._post_physics_step()


@pytest.mark.parametrize("global_obs", [True, False])
@pytest.mark.parametrize(
    "motion", ["procedural_walk", pytest.param("amp_locomotion", marks=needs_clips)]
)
def test_simulated_disc_obs_equals_the_motion_library_on_the_same_clip_and_times(global_obs, motion):
    env = make_env("num_envs=6", f"env.global_obs={str(global_obs).lower()}", motion=motion)
    env.reset()
    lib = env.motion_lib
    motion_ids = torch.arange(env.num_envs) % lib.num_motions
    # windows inside clips and windows reaching back before the start (WRAP clips wrap, CLAMP clips clamp)
    times0 = torch.tensor([0.05, 0.2, 0.5, 0.73, 1.0, 0.1]).minimum(lib.get_motion_length(motion_ids))
    play_window(env, motion_ids, times0)
    demo = env.compute_demo_disc_obs(motion_ids, times0)
    sim = env.disc_obs()
    assert sim.shape == demo.shape == (env.num_envs, env.disc_obs_dim)
    torch.testing.assert_close(sim, demo, atol=1e-4, rtol=0)

    # the velocities are part of the comparison: at rest the obs would differ
    times = window_times(times0, env.num_disc_obs_steps, env.dt)
    f = lib.calc_motion_frame(motion_ids, times[:, -1], with_bodies=False)
    assert f.dof_vel.abs().max() > 0.5  # (the procedural walk steps in place: its root velocity is 0)
    env.engine.set_state(torch.arange(env.num_envs), CharState.at_rest(f.root_pos, f.root_rot, f.dof_pos))
    env._post_physics_step()
    assert (env.disc_obs() - demo).abs().max() > 0.1


def test_dims_follow_the_model():
    env = make_env("num_envs=3")
    j, k, d = env.engine.num_bodies - 1, len(env.key_body_ids), env.engine.num_dofs
    assert env.engine.body_names[env.key_body_ids[0]] == "head" and k == 5
    frame = 3 + 6 + 6 * j + 3 * k + 3 + 3 + d
    assert disc_obs_frame_size(j, k, d, root_height_obs=True) == frame
    assert env.disc_obs_dim == 10 * frame
    obs = env.reset()
    assert obs.shape == (3, env.obs_dim) and env.obs_dim == 1 + 6 + 3 + 3 + 6 * j + d + 3 * k
    _, reward, done, info = env.step(torch.zeros(3, env.action_dim))
    assert set(info) == {"disc_obs", "episode/root_speed"} and info["disc_obs"].shape == (3, env.disc_obs_dim)
    assert torch.isfinite(info["disc_obs"]).all()
    assert (reward == 0).all()
    demo = env.fetch_demo_disc_obs(17)
    assert demo.shape == (17, env.disc_obs_dim) and torch.isfinite(demo).all()

    short = make_env("num_envs=2", "env.num_disc_obs_steps=2", "env.root_height_obs=false")
    assert short.disc_obs_dim == 2 * (frame - 1) == short.fetch_demo_disc_obs(4).shape[1]
    assert short.obs_dim == env.obs_dim - 1


def turned(frames: DiscFrames, angle: float, shift: torch.Tensor) -> DiscFrames:
    """The same motion turned by `angle` about the world z axis and moved by `shift` (horizontal)."""
    q = rot.quat_from_axis_angle(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(angle))
    turn = lambda v: rot.quat_rotate(q.expand(*v.shape[:-1], 4), v)  # noqa: E731
    return frames._replace(
        root_pos=turn(frames.root_pos) + shift,
        root_rot=rot.quat_mul(q.expand(*frames.root_rot.shape), frames.root_rot),
        root_lin_vel=turn(frames.root_lin_vel),
        root_ang_vel=turn(frames.root_ang_vel),
        body_pos=turn(frames.body_pos) + shift,
    )


def test_heading_frame_obs_is_invariant_to_turning_the_clip():
    env = make_env("num_envs=2")
    ids = torch.zeros(5, dtype=torch.long)
    times = torch.linspace(0.1, 1.9, 5)
    frames = motion_disc_frames(env.motion_lib, env.character, ids, times, 10, env.dt, env.key_body_ids)
    moved = turned(frames, 2.1, torch.tensor([3.0, -1.5, 0.0]))
    local = compute_disc_obs(frames, global_obs=False, root_height_obs=True)
    moved_local = compute_disc_obs(moved, global_obs=False, root_height_obs=True)
    torch.testing.assert_close(moved_local, local, atol=1e-5, rtol=0)
    # world-frame obs see the turn, but not a horizontal move (root x, y are relative to the newest frame)
    world = compute_disc_obs(frames, global_obs=True, root_height_obs=True)
    assert (compute_disc_obs(moved, global_obs=True, root_height_obs=True) - world).abs().max() > 0.1
    shifted = turned(frames, 0.0, torch.tensor([3.0, -1.5, 0.0]))
    shifted_world = compute_disc_obs(shifted, global_obs=True, root_height_obs=True)
    torch.testing.assert_close(shifted_world, world, atol=1e-5, rtol=0)
    # ADD's world root position sees the move
    add = compute_disc_obs(frames, global_obs=True, root_height_obs=True, world_root_pos=True)
    assert (compute_disc_obs(shifted, global_obs=True, root_height_obs=True, world_root_pos=True) - add).abs().max() > 1
    with pytest.raises(ValueError, match="world_root_pos needs global_obs"):
        compute_disc_obs(frames, global_obs=False, root_height_obs=True, world_root_pos=True)
    # with world body positions the move shows in every body's numbers too; without, they are root-relative
    parts = disc_obs_frame_parts(env.character.num_joints, len(env.key_body_ids), env.character.num_dofs, True)
    start = parts["root_pos"] + parts["root_rot"] + parts["joint_rot"]
    body = slice(start, start + parts["body_pos"])
    frame_size = sum(parts.values())
    world_kwargs = dict(global_obs=True, root_height_obs=True, world_root_pos=True, world_body_pos=True)
    diff = compute_disc_obs(shifted, **world_kwargs) - compute_disc_obs(frames, **world_kwargs)
    body_diff = diff.reshape(len(ids), 10, frame_size)[..., body].reshape(len(ids), 10, -1, 3)
    torch.testing.assert_close(body_diff, torch.tensor([3.0, -1.5, 0.0]).expand_as(body_diff), atol=1e-4, rtol=0)
    relative = compute_disc_obs(shifted, **{**world_kwargs, "world_body_pos": False}) - add
    assert relative.reshape(len(ids), 10, frame_size)[..., body].abs().max() < 1e-4
    with pytest.raises(ValueError, match="world_body_pos needs world_root_pos"):
        compute_disc_obs(frames, global_obs=True, root_height_obs=True, world_body_pos=True)


def test_frame_layout_of_a_single_frame():
    """Root x, y relative to itself are 0, z is the height; body offsets are relative to the frame's root."""
    env = make_env("num_envs=2")
    one = torch.zeros(1, dtype=torch.long)
    frames = motion_disc_frames(env.motion_lib, env.character, one, torch.tensor([0.4]), 1, env.dt, env.key_body_ids)
    obs = compute_disc_obs(frames, global_obs=True, root_height_obs=True)[0]
    j, k = env.character.num_joints, len(env.key_body_ids)
    torch.testing.assert_close(obs[:3], torch.cat([torch.zeros(2), frames.root_pos[0, 0, 2:]]))
    torch.testing.assert_close(obs[3:9], rot.quat_to_tan_norm(frames.root_rot[0, 0]))
    key = obs[9 + 6 * j : 9 + 6 * j + 3 * k].view(k, 3)
    torch.testing.assert_close(key, frames.body_pos[0, 0] - frames.root_pos[0, 0])
    vel = obs[9 + 6 * j + 3 * k :]
    want = torch.cat([frames.root_lin_vel[0, 0], frames.root_ang_vel[0, 0], frames.dof_vel[0, 0]])
    torch.testing.assert_close(vel, want)


def test_history_after_reset_is_the_clip_window_ending_at_the_start_time():
    env = make_env("num_envs=6")
    env.reset()
    demo = env.compute_demo_disc_obs(env.motion_ids, env.motion_time0)
    torch.testing.assert_close(env.disc_obs(), demo, atol=1e-6, rtol=0)
    # its newest frame is the state the simulator starts in
    sim = engine_disc_frame(env.engine, env.character, env.key_body_ids)
    for got, want in zip(sim, env.disc_history.frames):
        torch.testing.assert_close(got, want[:, -1], atol=1e-4, rtol=0)

    # reset_done refills only the finished envs
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        env.step(0.2 * torch.randn(6, env.action_dim, generator=gen))
    before = env.disc_obs()
    done = torch.tensor([DoneFlags.NULL, DoneFlags.TIME, DoneFlags.NULL, DoneFlags.FAIL, DoneFlags.NULL, DoneFlags.NULL])
    env.reset_done(done)
    after = env.disc_obs()
    reset = done != DoneFlags.NULL
    torch.testing.assert_close(after[~reset], before[~reset])
    demo = env.compute_demo_disc_obs(env.motion_ids[reset], env.motion_time0[reset])
    torch.testing.assert_close(after[reset], demo, atol=1e-6, rtol=0)


def test_step_rolls_the_history_and_reports_the_state_after_the_step():
    env = make_env("num_envs=4")
    env.reset()
    before = DiscFrames(*(x.clone() for x in env.disc_history.frames))
    _, _, _, info = env.step(0.1 * torch.ones(4, env.action_dim))
    after = env.disc_history.frames
    for old, new in zip(before, after):
        torch.testing.assert_close(new[:, :-1], old[:, 1:], atol=0, rtol=0)
    for now, newest in zip(engine_disc_frame(env.engine, env.character, env.key_body_ids), after):
        torch.testing.assert_close(newest[:, -1], now, atol=0, rtol=0)
    torch.testing.assert_close(info["disc_obs"], env.disc_obs())


def test_episodes_end_by_falling_or_time_out_not_with_the_clip():
    env = make_env("num_envs=4", "env.episode_length=0.5")
    env.reset()
    flags = [env.step(torch.zeros(4, env.action_dim))[2] for _ in range(15)]
    assert all(((f == DoneFlags.NULL) | (f == DoneFlags.FAIL)).all() for f in flags[:14])
    assert ((flags[14] == DoneFlags.TIME) | (flags[14] == DoneFlags.FAIL)).all()

    env = make_env("num_envs=4", "env.episode_length=20")
    env.reset()
    limp = -torch.ones(4, env.action_dim)  # every joint driven to its lower limit: the character crumples
    done = torch.zeros(4, dtype=torch.long)
    for _ in range(120):
        _, reward, step_done, _ = env.step(limp)
        assert (reward == 0).all()
        done = torch.where(done == DoneFlags.NULL, step_done, done)
    assert (done == DoneFlags.FAIL).all(), done


@needs_clips
def test_amp_locomotion_dataset_loads_with_its_weights():
    env = make_env("num_envs=2", motion="amp_locomotion")
    names = [Path(f).name for f in env.motion_lib.motion_files]
    assert names == [
        "humanoid_amp_walk.pkl", "humanoid_amp_run.pkl", "humanoid_walk.pkl", "humanoid_jog.pkl", "humanoid_run.pkl"
    ]
    torch.testing.assert_close(env.motion_lib.motion_weights, torch.tensor([3.0, 3, 1, 1, 1]) / 9)
    assert env.fetch_demo_disc_obs(64).shape == (64, env.disc_obs_dim)
