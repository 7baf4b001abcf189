"""Watching a trained policy: `mode=test video=true` and `mode=play model_file=...` record env 0 into policy.mp4, with
the reference it tracks drawn as a see-through ghost; mode=play without a checkpoint in a training env says what to
do instead of failing inside the env."""
import os
import subprocess
import sys
from pathlib import Path

import imageio
import numpy as np
import pytest
import torch

from mimickit.render.video import VideoRecorder
from mimickit.sim.registry import build_engine
from render_settings import recorder_settings

ROOT = Path(__file__).resolve().parents[2]
TINY = ["experiment=deepmimic_humanoid_ppo", "motion=procedural_walk", "num_envs=2", "sim.nthread=1",
        "algo.model.actor_hidden_dims=[16]", "algo.model.critic_hidden_dims=[16]"]


def run_cli(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SLURM_RESTART_COUNT")}
    return subprocess.run([sys.executable, "-m", "mimickit.run", *TINY, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("train")
    out = run_cli("max_iters=1", "algo.steps_per_iter=4", "test_episodes=0", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir / "model.pt"


def frames_of(path):
    reader = imageio.get_reader(path)
    frames = [frame for frame in reader]
    reader.close()
    return frames


@pytest.mark.parametrize("mode", ["test", "play"])
def test_policy_video_from_a_checkpoint(checkpoint, tmp_path, mode):
    out = run_cli(f"mode={mode}", "video=true", "video_steps=12", "test_episodes=2", f"model_file={checkpoint}",
                  f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    frames = frames_of(tmp_path / "policy.mp4")
    assert len(frames) == 12 and all(frame.std() > 10.0 for frame in frames)
    assert (tmp_path / "metrics.json").is_file() == (mode == "test")


def test_play_without_a_checkpoint_in_a_training_env_says_what_to_do(tmp_path):
    out = run_cli("mode=play", "video=true", f"hydra.run.dir={tmp_path}")
    assert out.returncode != 0 and "env=view_motion" in out.stderr and "model_file" in out.stderr


def test_ghost_is_drawn_where_the_reference_is(tmp_path):
    """A ghost posed away from the character adds pixels that the character alone does not have."""
    engine = build_engine("mujoco", mjcf=str(ROOT / "data/assets/humanoid/capsule_humanoid.xml"), num_envs=1,
                          device="cpu", control_mode="none", nthread=1)
    state = engine.root_pos().clone(), engine.root_rot().clone(), engine.dof_pos().clone()
    ghost = type("Pose", (), {"root_pos": state[0] + torch.tensor([0.0, 1.0, 0.0]), "root_rot": state[1],
                              "dof_pos": state[2]})
    size = recorder_settings(width=160, height=120)
    with VideoRecorder(engine, **size) as alone, VideoRecorder(engine, ghost=lambda: ghost, **size) as with_ghost:
        difference = np.abs(alone.render().astype(int) - with_ghost.render().astype(int)).max(-1)
    assert (difference > 30).mean() > 0.005
