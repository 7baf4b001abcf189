"""Playback loops: step clips or a trained policy, recording the frames into an mp4 (headless) and/or showing them
in MuJoCo's viewer in real time. `mode=play` (clips with env=view_motion, a policy with model_file=...) and
`mode=test video=true` run them."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from mimickit.render.video import GhostPose, LiveViewer, MarkerSource, VideoRecorder, launch_viewer

log = logging.getLogger(__name__)

MOTION_VIDEO = "motion"  # the recorder adds its format's suffix (recorder.file_format: mp4 or gif)
POLICY_VIDEO = "policy"


def play_motion(env, out_dir: str, visualize: bool, video: bool, num_steps: int, recorder: dict) -> dict:
    """Play a `ViewMotionEnv`'s clips into `<out_dir>/motion.mp4` (or `.gif`, recorder.file_format)
    and/or the viewer."""
    env.reset()
    return run_playback(env.engine, env.step, Path(out_dir) / MOTION_VIDEO, visualize, video, num_steps,
                        env_ids=env.shown_envs, recorder=recorder)


@torch.no_grad()
def watch_policy(agent, out_dir: str, visualize: bool, video: bool, num_steps: int, recorder: dict) -> dict:
    """Run the agent's deterministic policy on env 0 into `<out_dir>/policy.mp4` (or `.gif`) and/or the viewer; an env
    that tracks a reference (`env.reference_pose`) shows it as a see-through ghost, a task env (`env.task_markers`)
    its targets."""
    env = agent.env
    env_steps = policy_env_steps(agent, env.reset())
    return run_playback(env.engine, lambda: next(env_steps), Path(out_dir) / POLICY_VIDEO, visualize, video, num_steps,
                        env_ids=[0], recorder=recorder, ghost=getattr(env, "reference_pose", None),
                        markers=getattr(env, "task_markers", None))


def policy_env_steps(agent, obs: torch.Tensor) -> Iterator[None]:
    """The agent's deterministic policy acting on its env from `obs`, one env step per iteration, endlessly. An env
    whose step spans several (`substeps`: the ASE controller's held latent) yields after each of them, so that a
    video shows every one."""
    env = agent.env
    substeps = getattr(env, "substeps", None)
    while True:
        action = agent.policy_action(obs)
        if substeps is None:
            _, _, done, _ = env.step(action)
            obs = env.reset_done(done)
            yield
        else:
            _, _, done, _ = yield from substeps(action)
            obs = env.reset_done(done)


def run_playback(
    engine,
    step: Callable[[], None],
    video_path: Path,
    visualize: bool,
    video: bool,
    num_steps: int,
    env_ids: list[int],
    recorder: dict,
    ghost: GhostPose | None = None,
    markers: MarkerSource | None = None,
) -> dict:
    """Record the first `num_steps` steps (video, with the `recorder` settings of VideoRecorder) and/or show them
    in real time until the viewer window is closed (visualize). Returns the numbers of steps and recorded frames."""
    if num_steps <= 0:
        raise ValueError(f"video_steps must be positive, got {num_steps}")
    viewer = launch_viewer(engine, env_ids, ghost=ghost, markers=markers) if visualize else None
    recorder = VideoRecorder(engine, env_ids, ghost, markers, **recorder) if video else None
    if viewer is None and recorder is None:
        log.warning("nothing to show: pass video=true (mp4, headless) or visualize=true (needs a display)")
        return {"steps": 0, "video_frames": 0}
    try:
        if recorder is not None:
            recorder.start(video_path)
        start, steps = time.perf_counter(), 0
        while _recording(recorder, num_steps) or _showing(viewer):
            if _recording(recorder, num_steps):
                recorder.capture()
            if _showing(viewer):
                viewer.sync()
                time.sleep(max(0.0, start + (steps + 1) * engine.control_dt - time.perf_counter()))
            step()
            steps += 1
        if recorder is not None:
            recorder.finish()
        return {"steps": steps, "video_frames": recorder.num_frames if recorder is not None else 0}
    finally:
        if recorder is not None:
            recorder.close()
        if viewer is not None:
            viewer.close()


def _recording(recorder: VideoRecorder | None, num_steps: int) -> bool:
    return recorder is not None and recorder.num_frames < num_steps


def _showing(viewer: LiveViewer | None) -> bool:
    return viewer is not None and viewer.is_running()
