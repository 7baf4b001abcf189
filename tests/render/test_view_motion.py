"""Motion viewer and video recording: GL backend choice, pure playback/pose math, offscreen frames that show the
character, mp4 files with the right number of frames, and `mode=play` end to end (headless)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio
import numpy as np
import pytest
import torch

from mimickit.anim.motion import LoopMode, Motion, load_motion
from mimickit.anim.rotations import exp_map_to_quat, quat_from_axis_angle
from mimickit.envs.view_motion_env import compute_playback_times
from render_settings import recorder_settings
from mimickit.sim.engine import CharState
from mimickit.sim.mujoco_engine import MujocoEngine
from mimickit.sim.registry import build_engine
from mimickit.render import video
from mimickit.render.video import VideoRecorder

REPO_ROOT = Path(__file__).resolve().parents[2]
HUMANOID_XML = REPO_ROOT / "data" / "assets" / "humanoid" / "capsule_humanoid.xml"
SMALL = recorder_settings(width=160, height=120)
# A pixel "differs" past this many levels on some channel (well above h264 noise).
PIXEL_TOLERANCE = 40


@pytest.fixture(scope="module")
def engine() -> MujocoEngine:
    torch.set_num_threads(1)
    return build_engine("mujoco", mjcf=str(HUMANOID_XML), num_envs=2, device="cpu", control_mode="none", nthread=1)


def _pose(engine: MujocoEngine, root_pos: torch.Tensor, dof_scale: float = 0.0) -> None:
    n = engine.num_envs
    rot = quat_from_axis_angle(torch.tensor([[0.0, 0.0, 1.0]]).expand(n, 3), torch.full((n,), 0.3))
    dof = dof_scale * torch.linspace(-1.0, 1.0, engine.num_dofs).expand(n, -1)
    engine.set_state(torch.arange(n), CharState.at_rest(root_pos, rot, dof))


def _differing_fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > PIXEL_TOLERANCE).mean())


# ---- GL backend ----
def test_gl_backend_respects_the_user_and_defaults_to_egl_headless():
    assert video.select_gl_backend({"MUJOCO_GL": "OSMesa"}, "linux") == "osmesa"
    assert video.select_gl_backend({}, "linux") == "egl"
    assert video.select_gl_backend({"DISPLAY": ":0"}, "linux") == ""
    assert video.select_gl_backend({}, "darwin") == ""
    assert not video.has_display({"DISPLAY": ""}, "linux")


def test_failing_egl_falls_back_to_osmesa_or_explains_both_failures(tmp_path):
    """A bad EGL device makes EGL fail; OSMesa then renders, or (no libOSMesa) the error names both backends."""
    script = (
        "import logging; logging.basicConfig()\n"
        "from mimickit.render.video import create_gl_context\n"
        "try:\n"
        "    create_gl_context(64, 48).free(); print('RENDERED')\n"
        "except RuntimeError as err:\n"
        "    print('ERROR', err)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env["MUJOCO_EGL_DEVICE_ID"] = "99"
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert "falling back to OSMesa" in text
    assert "RENDERED" in out.stdout or ("EGL failed" in out.stdout and "OSMesa failed" in out.stdout), text


# ---- pure functions ----
def test_compute_qpos_writes_mujoco_wxyz_root_rotation():
    rot = quat_from_axis_angle(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([0.5]))
    qpos = video.compute_qpos(torch.tensor([[1.0, 2.0, 3.0]]), rot, torch.arange(4.0).unsqueeze(0))
    assert qpos.dtype == torch.float64 and qpos.shape == (1, 11)
    torch.testing.assert_close(qpos[0, 3:7].float(), torch.tensor([np.cos(0.25), 0.0, 0.0, np.sin(0.25)], dtype=torch.float32))
    torch.testing.assert_close(qpos[0, 7:].float(), torch.arange(4.0))


def test_side_by_side_offsets_are_centred_and_across_the_view():
    offsets = video.compute_side_by_side_offsets(3, spacing=2.0, azimuth_deg=90.0)
    torch.testing.assert_close(offsets.sum(0), torch.zeros(3, dtype=torch.float64))
    # azimuth 90 looks along +y, so characters line up along x, 2 m apart
    torch.testing.assert_close(offsets[:, 0], torch.tensor([-2.0, 0.0, 2.0], dtype=torch.float64))
    assert offsets[:, 1:].abs().max() < 1e-9


def test_depth_buffer_value_spans_near_to_far():
    assert video.compute_depth_buffer_value(0.1, znear=0.1, zfar=50.0) == pytest.approx(0.0)
    assert video.compute_depth_buffer_value(50.0, znear=0.1, zfar=50.0) == pytest.approx(1.0)
    assert 0.99 < video.compute_depth_buffer_value(25.0, znear=0.1, zfar=50.0) < 1.0


def test_sky_reaches_the_horizon_colour_at_the_lowest_background_row():
    background = np.zeros((10, 4), dtype=bool)
    background[:6] = True
    sky = video.compute_sky(background)
    assert sky.shape == (10, 4, 3) and sky.dtype == np.uint8
    np.testing.assert_allclose(sky[0, 0], video.SKY_TOP_RGB, atol=1)
    np.testing.assert_allclose(sky[5, 0], video.SKY_HORIZON_RGB, atol=1)


def test_playback_times_wrap_or_restart():
    times = compute_playback_times(
        2.5, torch.tensor([0.0, 0.0, 1.0]), torch.tensor([2.0, 2.0, 2.0]), torch.tensor([True, False, False])
    )
    torch.testing.assert_close(times, torch.tensor([2.5, 0.5, 1.5]))


# ---- offscreen rendering ----
def test_frames_show_the_character(engine):
    """The character covers a visible share of the frame: hiding it under the floor changes many pixels."""
    with VideoRecorder(engine, **SMALL) as recorder:
        _pose(engine, torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]), dof_scale=0.3)
        with_character = recorder.render()
        _pose(engine, torch.tensor([[0.0, 0.0, -5.0], [0.0, 0.0, -5.0]]))
        empty = recorder.render()
    assert with_character.shape == (120, 160, 3) and with_character.dtype == np.uint8
    assert with_character.std() > 10.0
    assert 0.01 < _differing_fraction(with_character, empty) < 0.5


def test_second_env_is_drawn_beside_the_first(engine):
    _pose(engine, torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    with VideoRecorder(engine, env_ids=[0], **SMALL) as one, VideoRecorder(engine, env_ids=[0, 1], **SMALL) as two:
        assert _differing_fraction(one.render(), two.render()) > 0.01


def test_recorder_writes_an_mp4_with_one_frame_per_capture(engine, tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoRecorder(engine, **SMALL) as recorder:
        recorder.start(path)
        for k in range(7):
            _pose(engine, torch.tensor([[0.1 * k, 0.0, 1.0]] * 2), dof_scale=0.05 * k)
            recorder.capture()
        assert recorder.finish() == path
    reader = imageio.get_reader(path)
    assert reader.count_frames() == 7
    assert reader.get_meta_data()["fps"] == pytest.approx(1.0 / engine.control_dt)
    assert reader.get_meta_data()["size"] == (160, 120)
    reader.close()


def test_recorder_writes_a_gif_when_asked(engine, tmp_path):
    with VideoRecorder(engine, **{**SMALL, "file_format": "gif"}) as recorder:
        path = recorder.start(tmp_path / "clip")
        for k in range(5):
            _pose(engine, torch.tensor([[0.1 * k, 0.0, 1.0]] * 2), dof_scale=0.05 * k)
            recorder.capture()
        assert recorder.finish() == path == tmp_path / "clip.gif"
    frames = imageio.mimread(path)
    assert len(frames) == 5 and frames[0].shape[:2] == (120, 160)
    assert np.abs(frames[-1][..., :3].astype(int) - frames[0][..., :3].astype(int)).max() > PIXEL_TOLERANCE
    with pytest.raises(ValueError, match="file_format"):
        VideoRecorder(engine, **{**SMALL, "file_format": "avi"})


def test_recorder_rejects_bad_input(engine):
    with pytest.raises(ValueError, match="even"):
        VideoRecorder(engine, **{**SMALL, "width": 161})
    with pytest.raises(ValueError, match="env_ids"):
        VideoRecorder(engine, env_ids=[2], **SMALL)
    with pytest.raises(TypeError, match="mj_model"):
        VideoRecorder(type("NoModel", (), {"num_envs": 1, "control_dt": 0.1})(), **SMALL)
    with VideoRecorder(engine, **SMALL) as recorder, pytest.raises(RuntimeError, match="start"):
        recorder.capture()


def test_viewer_is_skipped_without_a_display(engine, monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert video.launch_viewer(engine) is None
    assert "needs a display" in caplog.text


# ---- env=view_motion end to end ----
PROCEDURAL_CLIP = REPO_ROOT / "data" / "motions" / "procedural" / "humanoid_procedural.pkl"


def _build_view_motion_env(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from mimickit.run import build_env, validate

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["env=view_motion", "motion=procedural_walk", "sim.nthread=1", *overrides])
    assert cfg.mode == "play" and cfg.sim.control_mode == "none"
    validate(cfg)
    return build_env(cfg)


def _travelling_clip(path: Path) -> Motion:
    """The procedural clip made to travel and turn (and CLAMP, so playback restarts), so the root moves."""
    frames = load_motion(PROCEDURAL_CLIP).frames.copy()
    fps = 30.0
    t = np.arange(len(frames)) / fps
    frames[:, 0] = 0.8 * t
    frames[:, 1] = 0.3 * np.sin(2.0 * t)
    frames[:, 3:6] = np.stack([np.zeros_like(t), np.zeros_like(t), 0.5 * t], axis=-1)
    clip = Motion(fps=fps, loop_mode=LoopMode.CLAMP, frames=frames)
    clip.save(path)
    return clip


def test_played_roots_follow_the_clip(tmp_path):
    """Env i plays the clip from i * time_offset; its root matches the clip's frames, and restarts at the end."""
    clip = _travelling_clip(tmp_path / "travel.pkl")
    env = _build_view_motion_env(["num_envs=2", "env.time_offset=0.5", f"motion.motion_file={tmp_path / 'travel.pkl'}"])
    assert env.dt * clip.fps == pytest.approx(1.0)  # one clip frame per step: compare at exact frames
    env.reset()
    offsets = np.array([0, round(0.5 * clip.fps)])
    last = clip.num_frames - 1
    for k in range(round(1.5 * clip.num_frames)):
        frame_ids = (k + offsets) % last  # a CLAMP clip restarts at its end ...
        at_end = np.where((frame_ids == 0) & (k + offsets > 0), last, frame_ids)  # ... where its last frame also fits
        errors = []
        for ids in (frame_ids, at_end):
            expected = torch.as_tensor(clip.frames[ids])
            pos_err = (env.engine.root_pos() - expected[:, 0:3]).abs().amax(-1)
            rot_err = 1.0 - (env.engine.root_rot() * exp_map_to_quat(expected[:, 3:6])).sum(-1).abs()
            errors.append(torch.maximum(pos_err, rot_err))
        error = torch.minimum(*errors)
        assert torch.all(error < 1e-4), f"step {k}: roots differ from clip frames {frame_ids} by {error}"
        env.step()


def test_play_mode_writes_a_video_of_the_clip(tmp_path):
    """`python -m mimickit.run env=view_motion ... video=true` writes an mp4 with one frame per step that shows
    the character (it differs from the same view with the character hidden under the floor)."""
    steps, size = 30, SMALL
    cmd = [
        sys.executable, "-m", "mimickit.run", "env=view_motion", "motion=procedural_walk", "video=true",
        f"video_steps={steps}", f"hydra.run.dir={tmp_path}", "sim.nthread=1",
        f"recorder.width={size['width']}", f"recorder.height={size['height']}",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    reader = imageio.get_reader(tmp_path / "motion.mp4")
    frames = [frame for frame in reader]
    reader.close()
    assert len(frames) == steps
    assert frames[0].shape == (size["height"], size["width"], 3)
    assert all(frame.std() > 10.0 for frame in frames)
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).max() > PIXEL_TOLERANCE  # the character moves

    root = torch.as_tensor(load_motion(PROCEDURAL_CLIP).frames[:1, 0:3]).repeat(2, 1)
    hidden = build_engine("mujoco", mjcf=str(HUMANOID_XML), num_envs=2, device="cpu", control_mode="none", nthread=1)
    _pose(hidden, root + torch.tensor([0.0, 0.0, -5.0]))
    with VideoRecorder(hidden, **size) as recorder:
        empty = recorder.render()
    assert _differing_fraction(frames[0], empty) > 0.01
