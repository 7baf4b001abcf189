"""Play an exported policy (`mimickit.tools.export_onnx`) in plain MuJoCo on the CPU: numpy, mujoco and onnxruntime,
no torch, nothing of the training stack.

    python -m mimickit.tools.sim2sim onnx=policy.onnx [motion_file=clip.pkl] [start_time=0] [steps=N]
                                     [video=out.mp4] [viewer=true]

Everything comes from the metadata JSON beside the ONNX file: the MJCF and the PD servos, rates and integrator
(`mimickit.deploy.physics`), the clip (`motion_file=` plays another one), and the observation layout, which is
rebuilt in numpy from the MuJoCo state and the reference (`mimickit.deploy.observations`, `reference`). An episode
starts on the clip's reference at `start_time` (as test mode with `env.rand_reset=false` starts at 0) and ends as
the training env's does: a fall (a body other than the contact bodies touching the ground), the body position
error above `pose_termination_dist`, a simulation blow-up, the episode's time-out or the end of a non-looping clip.
`steps=N` stops earlier. Printed per episode: its length (control steps), the mean body position error (m, the
training env's `episode/tracking_error`, `mimickit.envs.rewards.compute_tracking_error`) and how it ended.

video=out.mp4 records it headless (MuJoCo's offscreen renderer, EGL or OSMesa; the reference drawn as a
see-through ghost); viewer=true opens MuJoCo's viewer (needs a display) and plays episodes in real time until it
is closed.
"""
from __future__ import annotations

import copy
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import onnxruntime

from mimickit.deploy import metadata as md
from mimickit.deploy import observations as obs_terms
from mimickit.deploy.kinematics import Skeleton
from mimickit.deploy.physics import Simulation, build_model
from mimickit.deploy.quat import quat_to_wxyz
from mimickit.deploy.reference import Reference, load_clip

ARGS = {"onnx": None, "motion_file": None, "start_time": "0", "steps": None, "video": None, "viewer": "false"}
CONTACT_FORCE_THRESHOLD = 1.0  # N: a body is touching something (mimickit.envs.char_env.compute_fall)
FAIL, TIME = "fail", "time"


@dataclass
class EpisodeResult:
    length: int  # control steps
    tracking_error: float  # mean over the steps of the mean body position error (m)
    end: str  # FAIL | TIME | "stopped" (steps= reached first)


class Sim2Sim:
    """One character in MuJoCo driven by the ONNX policy, its observation rebuilt from the state and the clip."""

    def __init__(self, onnx_path: str | Path, motion_file: str | Path | None = None, threads: int = 1):
        self.onnx_path = Path(onnx_path)
        self.meta = meta = md.load_metadata(md.metadata_path(self.onnx_path))
        char, physics, task = meta["character"], meta["physics"], meta["task"]
        if task["type"] != md.DEEPMIMIC_TASK:
            raise ValueError(f"sim2sim plays tracking policies (task {md.DEEPMIMIC_TASK!r}), not {task['type']!r}")
        self.floor_rule = task.get("contact_force_source", "all") == "floor"  # older files: today's rule
        self.mjcf = md.resolve_file(char["mjcf"], meta, "character MJCF")
        self.skeleton = Skeleton(str(self.mjcf))
        check_character(self.skeleton, char)
        model, actuator_dof_ids = build_model(str(self.mjcf), physics, char["dof_names"], self.floor_rule)
        self.sim = Simulation(model, actuator_dof_ids, int(physics["substeps"]))
        self.motion_file = md.resolve_file(motion_file or task["clips"][0]["file"], meta, "motion clip")
        self.reference = Reference(load_clip(self.motion_file), self.skeleton, float(task["min_fps"]))
        obs_terms.check_layout(meta["observation"], self.skeleton.num_bodies, len(task["tar_obs_steps"]),
                               task["enable_phase_obs"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])

        self.dt = np.float32(1.0 / physics["control_freq"])  # the env's control_dt, in its float32 time arithmetic
        self.tar_obs_steps = np.array(task["tar_obs_steps"], dtype=np.float32)
        self.fall_body_mask = np.array([b not in char["contact_bodies"] for b in char["body_names"]])
        self.default_qpos = np.array(char["default_qpos"])
        self.task = task
        self.time0 = np.float32(0.0)
        self.episode_step = 0

    # ---- the env's pieces ----
    def reset(self, start_time: float = 0.0) -> np.ndarray:
        """Put the character on the reference at `start_time` (s); returns the first observation."""
        self.time0, self.episode_step = np.float32(start_time), 0
        ref = self.reference.frame_at(np.array([self.time0]))
        state = (ref.root_pos[0], ref.root_rot[0], ref.root_lin_vel[0], ref.root_ang_vel[0], ref.dof_pos[0],
                 ref.dof_vel[0])
        self.sim.set_state(*(np.asarray(x, np.float64) for x in state))
        return self.observe()

    def motion_time(self) -> np.float32:
        return self.time0 + np.float32(self.episode_step) * self.dt

    def observe(self) -> np.ndarray:
        """(obs_dim,) float32, as `DeepMimicEnv._compute_obs`."""
        s, time_now = self.sim, self.motion_time()
        root_pos, root_rot = s.root_pos(), s.root_rot()
        tar = self.reference.frame_at(time_now + self.tar_obs_steps * self.dt)
        parts = [
            obs_terms.compute_char_obs(root_pos, root_rot, s.body_pos(), s.body_rot(), s.body_lin_vel(),
                                       s.body_ang_vel()),
            obs_terms.compute_target_obs(root_pos, root_rot, tar.body_pos, tar.body_rot),
        ]
        if self.task["enable_phase_obs"]:
            parts.append(obs_terms.compute_phase_obs(np.mod(time_now / self.reference.length, np.float32(1.0))))
        return np.concatenate(parts).astype(np.float32)

    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The policy's action and PD targets for one observation."""
        action, target = self.session.run(["action", "pd_target"], {"obs": obs[None]})
        return action[0], target[0]

    def step(self, pd_target: np.ndarray) -> tuple[float, str | None]:
        """One control step: the tracking error after it and how the episode ended (None: it goes on)."""
        self.sim.step(pd_target.astype(np.float64))
        self.episode_step += 1
        unstable = self.sim.diverged()
        if unstable:  # the engine puts a diverged world back in the default pose before the env reads it
            self.sim.set_default_state(self.default_qpos)
        body_pos = self.sim.body_pos()
        ref = self.reference.frame_at(np.array([self.motion_time()]))
        body_error = np.linalg.norm(body_pos - ref.body_pos[0], axis=-1)
        error = float(body_error.mean())
        pose_distance = float(body_error.max()) if self.task["pose_termination_metric"] == "max" else error
        return error, self._end(body_pos, ref.body_pos[0], pose_distance, unstable)

    def _end(self, body_pos: np.ndarray, ref_body_pos: np.ndarray, pose_distance: float, unstable: bool) -> str | None:
        """`DeepMimicEnv._compute_done`: failure (blow-up, fall, pose termination) before time-outs."""
        t = self.task
        failed = unstable
        if t["enable_early_termination"]:
            threshold = t.get("contact_force_threshold", CONTACT_FORCE_THRESHOLD)  # older files: today's rule
            if self.floor_rule:  # MimicKit's: floor contacts, any component (mimickit.envs.char_env.compute_fall)
                touching = (np.abs(self.sim.floor_contact_forces()) > threshold).any(axis=-1)
            else:
                touching = np.linalg.norm(self.sim.contact_forces(), axis=-1) > threshold
            low = True if t["contact_height"] is None else body_pos[:, 2] < t["contact_height"]
            may_fall = self.fall_body_mask
            if t.get("ref_contact_height") is not None:  # bodies the clip itself puts on the ground
                may_fall = may_fall & (ref_body_pos[:, 2] >= t["ref_contact_height"])
            fall = (touching & low & may_fall).any()
            failed = failed or fall or (t["pose_termination"] and pose_distance > t["pose_termination_dist"])
        if failed:
            return FAIL
        if self.episode_step >= t["max_episode_steps"] or self.reference.clip_over(self.motion_time()):
            return TIME
        return None

    # ---- episodes ----
    def run_episode(self, start_time: float = 0.0, max_steps: int | None = None,
                    on_step: Callable[[Sim2Sim], None] | None = None) -> EpisodeResult:
        obs, errors, end = self.reset(start_time), [], None
        if on_step:
            on_step(self)
        while end is None and (max_steps is None or len(errors) < max_steps):
            _, target = self.act(obs)
            error, end = self.step(target)
            errors.append(error)
            obs = self.observe()
            if on_step:
                on_step(self)
        return EpisodeResult(len(errors), float(np.mean(errors)), end or "stopped")

    def reference_qpos(self) -> np.ndarray:
        """qpos of the reference at the current motion time (for drawing it)."""
        ref = self.reference.frame_at(np.array([self.motion_time()]))
        return np.concatenate([ref.root_pos[0], quat_to_wxyz(ref.root_rot[0]), ref.dof_pos[0]]).astype(np.float64)


def check_character(skeleton: Skeleton, character: dict) -> None:
    """The MJCF's bodies, DoFs and joint layout must be the ones the policy was trained with, in the same order."""
    for key, mine in (("body_names", skeleton.body_names), ("dof_names", skeleton.dof_names),
                      ("joints", skeleton.layout())):
        if character[key] != mine:
            raise ValueError(f"the MJCF's {key} differ from the metadata's:\n  MJCF:     {mine}\n"
                             f"  metadata: {character[key]}")


# ---- video and viewer ----
class VideoWriter:
    """Offscreen frames of the simulated character (and its reference as a see-through ghost) into an mp4, in the
    colours of the project's videos (`mimickit.render.video`): a camera following the root, sky behind the floor."""

    CHARACTER_RGBA, GHOST_RGBA, FLOOR_RGBA = (0.85, 0.5, 0.25, 1.0), (0.3, 0.6, 1.0, 0.35), (0.62, 0.64, 0.68, 1.0)
    SKY_RGB = (217, 229, 242)

    def __init__(self, path: str | Path, model: mujoco.MjModel, fps: float, width: int = 640, height: int = 480):
        import imageio

        self.model = model = _styled_copy(model, self.CHARACTER_RGBA, self.FLOOR_RGBA)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self.gl = _gl_context(width, height)
        self.context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self.context)
        self.scene = mujoco.MjvScene(model, maxgeom=2 * model.ngeom + 100)
        self.camera = mujoco.MjvCamera()
        self.camera.distance, self.camera.azimuth, self.camera.elevation = 4.0, 120.0, -15.0
        self.option, self.perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
        self.rect = mujoco.MjrRect(0, 0, width, height)
        self.rgb = np.empty((height, width, 3), dtype=np.uint8)
        self.depth = np.empty((height, width), dtype=np.float32)
        self.ghost = mujoco.MjData(model)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = imageio.get_writer(self.path, fps=fps, codec="libx264", quality=7, macro_block_size=2,
                                         ffmpeg_log_level="error")
        self.frames = 0

    def capture(self, runner: Sim2Sim) -> None:
        data = runner.sim.data
        self.camera.lookat[:] = [data.qpos[0], data.qpos[1], 0.9]
        mujoco.mjv_updateScene(self.model, data, self.option, self.perturb, self.camera, mujoco.mjtCatBit.mjCAT_ALL,
                               self.scene)
        self.ghost.qpos[:] = runner.reference_qpos()
        mujoco.mj_kinematics(self.model, self.ghost)
        first = self.scene.ngeom
        mujoco.mjv_addGeoms(self.model, self.ghost, self.option, self.perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC,
                            self.scene)
        for g in range(first, self.scene.ngeom):
            self.scene.geoms[g].rgba[:] = self.GHOST_RGBA
        self.gl.make_current()
        mujoco.mjr_render(self.rect, self.scene, self.context)
        mujoco.mjr_readPixels(self.rgb, self.depth, self.rect, self.context)
        image = self.rgb[::-1].copy()  # OpenGL rows run bottom-up
        image[self.depth[::-1] >= 1.0] = self.SKY_RGB  # nothing drawn there: sky
        self.writer.append_data(image)
        self.frames += 1

    def close(self) -> None:
        self.writer.close()
        self.gl.make_current()
        self.context.free()
        self.gl.free()


def _styled_copy(model: mujoco.MjModel, character_rgba: tuple, floor_rgba: tuple) -> mujoco.MjModel:
    """A copy to draw (the simulated model keeps its colours): plain colours, a softer headlight."""
    model = copy.deepcopy(model)
    is_world = model.geom_bodyid == 0
    model.geom_rgba[~is_world], model.geom_rgba[is_world] = character_rgba, floor_rgba
    model.mat_rgba[:] = 1.0
    model.vis.headlight.ambient[:], model.vis.headlight.diffuse[:], model.vis.headlight.specular[:] = 0.4, 0.6, 0.1
    return model


def _gl_context(width: int, height: int):
    """A headless OpenGL context: MUJOCO_GL if set, else EGL without a display (OSMesa if EGL fails)."""
    backend = os.environ.get("MUJOCO_GL", "").lower()
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    backends = [backend] if backend else (["egl", "osmesa"] if headless else ["glfw"])
    errors = []
    for name in backends:
        try:
            module = "mujoco.glfw" if name == "glfw" else f"mujoco.{name}"
            context = importlib.import_module(module).GLContext(width, height)
            context.make_current()
            return context
        except Exception as e:  # noqa: BLE001 (try the next backend)
            errors.append(f"{name}: {type(e).__name__}: {e}")
    raise RuntimeError("no OpenGL context for video=: " + "; ".join(errors))


def watch(runner: Sim2Sim, start_time: float, max_steps: int | None) -> None:
    """Play episodes in MuJoCo's viewer in real time until it is closed (needs a display)."""
    import mujoco.viewer

    with mujoco.viewer.launch_passive(runner.sim.model, runner.sim.data) as viewer:
        def paced(r: Sim2Sim) -> None:
            viewer.sync()
            time.sleep(float(r.dt))

        while viewer.is_running():
            report(runner.run_episode(start_time, max_steps, paced))


# ---- CLI ----
def parse_args(argv: Sequence[str]) -> dict[str, str | None]:
    args = dict(ARGS)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in ARGS:
            raise SystemExit(f"unknown argument {arg!r}; arguments: {', '.join(k + '=' for k in ARGS)}\n{__doc__}")
        args[key] = value
    if not args["onnx"]:
        raise SystemExit(f"onnx=<exported policy> is required\n{__doc__}")
    return args


def report(result: EpisodeResult) -> None:
    print(f"sim2sim: episode_length={result.length} tracking_error={result.tracking_error:.6f} end={result.end}",
          flush=True)


def main(argv: Sequence[str] | None = None) -> EpisodeResult | None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    runner = Sim2Sim(args["onnx"], args["motion_file"])
    start = float(args["start_time"])
    max_steps = int(args["steps"]) if args["steps"] else None
    physics = runner.meta["physics"]
    print(f"sim2sim: {runner.onnx_path} on {runner.mjcf.name}, clip {runner.motion_file.name} from {start:g} s; "
          f"{physics['sim_freq']} Hz physics, {physics['control_freq']} Hz control", flush=True)
    if args["viewer"].lower() in ("true", "1", "yes"):
        watch(runner, start, max_steps)
        return None
    video = VideoWriter(args["video"], runner.sim.model, fps=1.0 / float(runner.dt)) if args["video"] else None
    try:
        result = runner.run_episode(start, max_steps, video.capture if video else None)
    finally:
        if video:
            video.close()
    report(result)
    if video:
        print(f"sim2sim: wrote {video.path} ({video.frames} frames)")
    return result


if __name__ == "__main__":
    main()
