"""Show a character from an engine's torch state: video recording (mp4 or gif, headless) and MuJoCo's interactive
viewer.

Any engine works if it exposes `mj_model`, the compiled MjModel of one world: the state of the shown envs
(root position, root rotation xyzw, DoF positions) is written into MjData rows of that model and only forward
kinematics runs, so rendering never touches the simulation. Several envs can be shown side by side.

Headless OpenGL: without a display, `MUJOCO_GL` defaults to `egl` (a user's value is respected); if an EGL
context cannot be created, rendering falls back to OSMesa with a warning. The GL context is created here rather
than by `mujoco.Renderer`, so the backend is honoured even when mujoco was imported before this module.
"""
from __future__ import annotations

import copy
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch

from mimickit.anim.rotations import quat_to_wxyz

log = logging.getLogger(__name__)

HEADLESS_GL_BACKENDS = ("egl", "osmesa")
_DISABLED_GL = ("disable", "disabled", "off", "false", "0")
CHARACTER_RGBA = (0.85, 0.5, 0.25, 1.0)
GHOST_RGBA = (0.3, 0.6, 1.0, 0.35)  # the reference a policy tracks, drawn see-through beside the character
# given by the caller; the rest come from the run's `recorder:`
RUNTIME_ARGS = ("engine", "env_ids", "ghost", "markers")
FLOOR_RGBA = (0.62, 0.64, 0.68, 1.0)
GRID_RGBA = (0.78, 0.8, 0.84, 1.0)
SKY_TOP_RGB = (140, 173, 217)
SKY_HORIZON_RGB = (217, 229, 242)


# ---- OpenGL backend ----
def has_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether a window can be opened (X11/Wayland on Linux; always assumed on macOS and Windows)."""
    if not platform.startswith("linux"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def select_gl_backend(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str:
    """The user's MUJOCO_GL if set; else egl on a headless Linux machine; else "" (MuJoCo's default, a window)."""
    user = environ.get("MUJOCO_GL", "").strip().lower()
    if user:
        return user
    return "" if has_display(environ, platform) else "egl"


def _default_gl_backend() -> None:
    """Set MUJOCO_GL for mujoco imports that come later (mujoco.Renderer reads it at import)."""
    backend = select_gl_backend()
    if backend and "MUJOCO_GL" not in os.environ:
        os.environ["MUJOCO_GL"] = backend


_default_gl_backend()


def _context_class(backend: str) -> type:
    """The GLContext class of a backend; PyOpenGL is re-imported if it was loaded for another platform."""
    if backend in _DISABLED_GL:
        raise RuntimeError(f"rendering is disabled (MUJOCO_GL={backend}); unset MUJOCO_GL or set it to egl/osmesa")
    if backend not in HEADLESS_GL_BACKENDS:
        from mujoco.rendering.classic import gl_context

        return gl_context.GLContext
    loaded = os.environ.get("PYOPENGL_PLATFORM")
    if loaded and loaded.lower() != backend:
        # PyOpenGL binds its platform once, at import; forget it so the other backend can load it again.
        for name in [n for n in sys.modules if n.split(".")[0] == "OpenGL"]:
            del sys.modules[name]
        del os.environ["PYOPENGL_PLATFORM"]
    return importlib.import_module(f"mujoco.{backend}").GLContext


def create_gl_context(width: int, height: int):
    """An OpenGL context for offscreen rendering, made current; EGL falls back to OSMesa with a warning."""
    backend = select_gl_backend()
    try:
        context = _context_class(backend)(width, height)
    except Exception as egl_error:
        if backend != "egl":
            raise RuntimeError(f"cannot create an OpenGL context with MUJOCO_GL={backend!r}: {egl_error}") from egl_error
        log.warning("EGL rendering failed (%s: %s); falling back to OSMesa (software, slower)", type(egl_error).__name__, egl_error)
        try:
            context = _context_class("osmesa")(width, height)
        except Exception as osmesa_error:
            raise RuntimeError(
                f"headless rendering needs EGL or OSMesa. EGL failed: {type(egl_error).__name__}: {egl_error}. "
                f"OSMesa failed: {type(osmesa_error).__name__}: {osmesa_error}. Install an EGL driver (libegl1 with "
                "Mesa or NVIDIA) or libosmesa6, or set MUJOCO_GL to a working backend."
            ) from osmesa_error
        os.environ["MUJOCO_GL"] = "osmesa"
    context.make_current()
    return context


# ---- pure math ----
def compute_qpos(root_pos: torch.Tensor, root_rot: torch.Tensor, dof_pos: torch.Tensor) -> torch.Tensor:
    """MuJoCo qpos rows (k, 7 + num_dofs) of a free-root character: position, rotation as wxyz, hinge angles."""
    return torch.cat([root_pos, quat_to_wxyz(root_rot), dof_pos], dim=-1).to(torch.float64)


def compute_side_by_side_offsets(num_shown: int, spacing: float, azimuth_deg: float) -> torch.Tensor:
    """(num_shown, 3) offsets that line envs up across the camera's view, the row centred on the origin."""
    azimuth = np.deg2rad(azimuth_deg)
    across = torch.tensor([np.sin(azimuth), -np.cos(azimuth), 0.0], dtype=torch.float64)
    slots = torch.arange(num_shown, dtype=torch.float64) - 0.5 * (num_shown - 1)
    return slots.unsqueeze(-1) * spacing * across


def compute_lookat(root_pos: torch.Tensor, height: float) -> np.ndarray:
    """Camera target: the centre of the shown roots on the ground plane, raised to `height` (no vertical bobbing)."""
    centre = root_pos.mean(dim=0).to(torch.float64).numpy().copy()
    centre[2] = height
    return centre


# ---- engine state -> MjData ----
# A ghost: () -> a pose of every env (root_pos (N, 3), root_rot (N, 4) xyzw, dof_pos (N, D) fields), e.g. the
# reference a tracking env follows (`env.reference_pose`).
GhostPose = Callable[[], Any]
# Task markers: () -> a sequence of markers of every env, each with `shape` ("sphere", "arrow" or "line"), `start`
# (N, 3), `end` (N, 3) or None for spheres, `size` (radius or arrow width in m, line width in px) and `rgba`, e.g. a
# task env's target (`env.task_markers`, `mimickit.envs.task_common.Marker`).
MarkerSource = Callable[[], Any]
_MARKER_GEOMS = {"sphere": mujoco.mjtGeom.mjGEOM_SPHERE, "arrow": mujoco.mjtGeom.mjGEOM_ARROW,
                 "line": mujoco.mjtGeom.mjGEOM_LINE}


class _PosedCharacters:
    """Own MjData rows of a render copy of the engine's model, posed from the engine's state of `env_ids`, and
    optionally a see-through ghost of each from another pose source."""

    def __init__(self, engine, env_ids: list[int] | None, spacing: float, azimuth: float,
                 ghost: GhostPose | None = None, markers: MarkerSource | None = None):
        model = getattr(engine, "mj_model", None)
        if not isinstance(model, mujoco.MjModel):
            raise TypeError(f"{type(engine).__name__} has no `mj_model` (the MjModel of one world) to render from")
        env_ids = [0] if env_ids is None else list(env_ids)
        if not env_ids or min(env_ids) < 0 or max(env_ids) >= engine.num_envs:
            raise ValueError(f"env_ids must be a non-empty list in [0, {engine.num_envs}), got {env_ids}")
        if model.nq != 7 + engine.num_dofs:
            raise ValueError(f"mj_model has nq={model.nq}, expected a free root + {engine.num_dofs} hinges")
        self.engine = engine
        self.env_ids = torch.tensor(env_ids, dtype=torch.long, device=engine.device)
        self.model = _styled_copy(model, CHARACTER_RGBA)
        self.datas = [mujoco.MjData(self.model) for _ in env_ids]
        self.offsets = compute_side_by_side_offsets(len(env_ids), spacing, azimuth)
        self.ghost = ghost
        self.ghost_model = _styled_copy(model, GHOST_RGBA) if ghost is not None else None
        self.ghost_datas = [mujoco.MjData(self.ghost_model) for _ in env_ids] if ghost is not None else []
        self.markers = markers

    @property
    def num_drawn(self) -> int:
        return len(self.datas) + len(self.ghost_datas)

    def update(self) -> torch.Tensor:
        """Pose every shown character (and ghost) from the engine; returns their displayed root positions (k, 3)."""
        e = self.engine
        root_pos = self._pose(self.model, self.datas, e.root_pos(), e.root_rot(), e.dof_pos())
        if self.ghost is not None:
            ref = self.ghost()
            self._pose(self.ghost_model, self.ghost_datas, ref.root_pos, ref.root_rot, ref.dof_pos)
        return root_pos

    def _pose(self, model, datas, root_pos, root_rot, dof_pos) -> torch.Tensor:
        ids = self.env_ids
        shown_pos = root_pos[ids].detach().cpu().to(torch.float64) + self.offsets
        qpos = compute_qpos(shown_pos, root_rot[ids].detach().cpu(), dof_pos[ids].detach().cpu()).numpy()
        for data, row in zip(datas, qpos):
            data.qpos[:] = row
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
        return shown_pos

    def add_others(self, scene: mujoco.MjvScene, option: mujoco.MjvOption, perturb: mujoco.MjvPerturb) -> None:
        """Append the moving geoms of every shown character but the first (whose data drew the scene), and of
        every ghost."""
        for model, datas in ((self.model, self.datas[1:]), (self.ghost_model, self.ghost_datas)):
            for data in datas:
                mujoco.mjv_addGeoms(model, data, option, perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)

    def add_markers(self, scene: mujoco.MjvScene) -> None:
        """Append the task markers of every shown env, moved by its side-by-side offset."""
        if self.markers is None:
            return
        def shown(points: torch.Tensor) -> np.ndarray:
            return (points[self.env_ids].detach().cpu().to(torch.float64) + self.offsets).numpy()

        for marker in self.markers():
            start = shown(marker.start)
            end = shown(marker.end) if marker.end is not None else [None] * len(start)
            for i in range(len(start)):
                _add_marker(scene, marker.shape, start[i], end[i], marker.size, marker.rgba)


def _add_marker(scene: mujoco.MjvScene, shape: str, start: np.ndarray, end: np.ndarray | None, size: float,
                rgba: tuple[float, ...]) -> None:
    if shape not in _MARKER_GEOMS:
        raise ValueError(f"unknown marker shape {shape!r}; known: {sorted(_MARKER_GEOMS)}")
    if scene.ngeom >= scene.maxgeom:
        return
    geom, kind = scene.geoms[scene.ngeom], _MARKER_GEOMS[shape]
    if shape == "sphere":
        mujoco.mjv_initGeom(geom, kind, np.full(3, size), start, np.eye(3).ravel(), np.asarray(rgba, np.float32))
    else:
        mujoco.mjv_initGeom(geom, kind, np.zeros(3), np.zeros(3), np.eye(3).ravel(), np.asarray(rgba, np.float32))
        mujoco.mjv_connector(geom, kind, size, start, end)
    scene.ngeom += 1


def _styled_copy(model: mujoco.MjModel, character_rgba: tuple[float, ...]) -> mujoco.MjModel:
    """A copy with display colours and a softer headlight; the engine's model is left untouched."""
    model = copy.deepcopy(model)
    is_world = model.geom_bodyid == 0
    model.geom_rgba[~is_world] = character_rgba
    model.geom_rgba[is_world] = FLOOR_RGBA
    model.mat_rgba[:] = 1.0
    model.vis.headlight.ambient[:] = 0.4
    model.vis.headlight.diffuse[:] = 0.6
    model.vis.headlight.specular[:] = 0.1
    # the floor fades into the sky's horizon colour, so the horizon shows no hard (aliased) edge
    model.vis.rgba.fog[:] = (*(np.array(SKY_HORIZON_RGB) / 255.0), 1.0)
    model.vis.map.fogstart = 6.0  # in units of the model's extent (about 1.7 m for the humanoid)
    model.vis.map.fogend = 30.0
    return model


# ---- offscreen recording ----
VIDEO_FORMATS = ("mp4", "gif")  # mp4: H.264 through ffmpeg (imageio-ffmpeg); gif: Pillow, shows inline in Markdown


class VideoRecorder:
    """Render envs of an engine with a camera that follows them, and stream the frames into a video file.

        recorder = VideoRecorder(engine, **cfg.recorder)
        recorder.start("episode")                      # episode.mp4 (or .gif, from `file_format`)
        for _ in range(steps):
            ...step the env...
            recorder.capture()
        recorder.finish()
        recorder.close()
    """

    def __init__(
        self,
        engine,
        env_ids: list[int] | None = None,
        ghost: GhostPose | None = None,
        markers: MarkerSource | None = None,
        *,
        width: int,
        height: int,
        fps: float | None,
        distance: float,
        azimuth: float,
        elevation: float,
        lookat_height: float,
        spacing: float,
        grid: bool,
        file_format: str,
    ):
        """The settings after `markers` are the run-level `recorder:` of conf/config.yaml.

        Args:
            engine: any engine with `mj_model`; its state is read, never written.
            env_ids: envs shown side by side (default: env 0).
            ghost: a second pose of every env drawn see-through over each shown character (a policy's reference).
            markers: task markers of every env (a task env's target), drawn with each shown character.
            width, height: frame size in pixels; even numbers (the mp4's yuv420p needs them).
            fps: video frame rate; default one frame per control step, 1 / engine.control_dt.
            distance, azimuth, elevation: camera placement around its target (metres, degrees).
            lookat_height: height of the camera target, which follows the shown roots over the ground.
            spacing: metres between characters shown side by side.
            grid: draw 1 m floor lines so that motion over the (plain) floor is visible.
            file_format: one of VIDEO_FORMATS, the suffix `start` gives its path.
        """
        if file_format not in VIDEO_FORMATS:
            raise ValueError(f"recorder.file_format must be one of {VIDEO_FORMATS}, got {file_format!r}")
        self.file_format = file_format
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"width and height must be positive even numbers, got {width}x{height}")
        self.width, self.height = width, height
        self.fps = fps if fps is not None else 1.0 / engine.control_dt
        self.grid = grid
        self.lookat_height = lookat_height
        self.characters = _PosedCharacters(engine, env_ids, spacing, azimuth, ghost, markers)
        model = self.characters.model
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)

        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.distance, self.camera.azimuth, self.camera.elevation = distance, azimuth, elevation
        self._option = mujoco.MjvOption()
        self._perturb = mujoco.MjvPerturb()
        max_geom = model.ngeom * self.characters.num_drawn + 200
        self._scene = mujoco.MjvScene(model, maxgeom=max_geom)
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._gl = create_gl_context(width, height)
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._rgb = np.empty((height, width, 3), dtype=np.uint8)
        self._depth = np.empty((height, width), dtype=np.float32)
        self._fogged_depth = compute_depth_buffer_value(
            model.vis.map.fogend * model.stat.extent,
            model.vis.map.znear * model.stat.extent,
            model.vis.map.zfar * model.stat.extent,
        )
        self._writer = None
        self._path: Path | None = None
        self.num_frames = 0
        self.render_seconds = 0.0

    # ---- frames ----
    def render(self) -> np.ndarray:
        """(height, width, 3) uint8 image of the engine's current state."""
        start = time.perf_counter()
        root_pos = self.characters.update()
        self.camera.lookat[:] = compute_lookat(root_pos, self.lookat_height)
        scene = self._scene
        mujoco.mjv_updateScene(
            self.characters.model, self.characters.datas[0], self._option, self._perturb, self.camera,
            mujoco.mjtCatBit.mjCAT_ALL, scene,
        )
        self.characters.add_others(scene, self._option, self._perturb)
        self.characters.add_markers(scene)
        scene.flags[mujoco.mjtRndFlag.mjRND_FOG] = True
        _add_sun(scene)
        if self.grid:
            _add_floor_grid(scene, self.camera.lookat)
        self._gl.make_current()
        mujoco.mjr_render(self._rect, scene, self._context)
        mujoco.mjr_readPixels(self._rgb, self._depth, self._rect, self._context)
        # OpenGL rows run bottom-up. Empty pixels and fully fogged floor become sky: this also hides the horizon
        # edge, where multisampling blends the floor with the black clear colour.
        rgb, background = self._rgb[::-1], self._depth[::-1] >= self._fogged_depth
        image = rgb.copy()
        np.copyto(image, compute_sky(background), where=background[..., None])
        self.render_seconds += time.perf_counter() - start
        return image

    # ---- video file ----
    def start(self, path: str | os.PathLike) -> Path:
        """Open `path` with the recorder's format as its suffix for the frames captured until `finish()`."""
        import imageio

        if self._writer is not None:
            raise RuntimeError(f"already recording into {self._path}; call finish() first")
        self._path = Path(path).with_suffix(f".{self.file_format}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self.file_format == "gif":
            self._writer = imageio.get_writer(self._path, duration=1000.0 / self.fps, loop=0)
        else:
            self._writer = imageio.get_writer(self._path, fps=self.fps, codec="libx264", quality=7,
                                              macro_block_size=2, ffmpeg_log_level="error")
        self.num_frames = 0
        return self._path

    def capture(self) -> None:
        """Render the engine's current state into the open video."""
        if self._writer is None:
            raise RuntimeError("capture() before start(path)")
        self._writer.append_data(self.render())
        self.num_frames += 1

    def finish(self) -> Path:
        """Close the video; returns its path."""
        if self._writer is None:
            raise RuntimeError("finish() before start(path)")
        self._writer.close()
        self._writer = None
        log.info("wrote %s (%d frames, %.0f ms per frame rendered)", self._path, self.num_frames, self.ms_per_frame)
        return self._path

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.render_seconds / max(self.num_frames, 1)

    def close(self) -> None:
        """Finish an open mp4 and free the GL resources (OSMesa complains at exit otherwise)."""
        if self._writer is not None:
            self.finish()
        if self._gl is not None:
            self._gl.make_current()
            self._context.free()
            self._gl.free()
            self._gl = None

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def compute_depth_buffer_value(distance: float, znear: float, zfar: float) -> float:
    """The [0, 1] depth-buffer value OpenGL stores for a point `distance` metres in front of a perspective camera."""
    return (1.0 / znear - 1.0 / distance) / (1.0 / znear - 1.0 / zfar)


def compute_sky(background: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sky: a vertical gradient that reaches the horizon (fog) colour at the lowest background row."""
    height, width = background.shape
    rows_with_sky = np.flatnonzero(background.any(axis=1))
    horizon = int(rows_with_sky[-1]) + 1 if rows_with_sky.size else height
    blend = np.clip(np.arange(height, dtype=np.float32) / max(horizon - 1, 1), 0.0, 1.0)[:, None]
    rows = (1.0 - blend) * np.array(SKY_TOP_RGB, np.float32) + blend * np.array(SKY_HORIZON_RGB, np.float32)
    return np.broadcast_to(rows[:, None, :].astype(np.uint8), (height, width, 3))


def _add_sun(scene: mujoco.MjvScene) -> None:
    """A directional light from above (the character file has none), so the floor is not lit at a grazing angle."""
    if scene.nlight >= len(scene.lights):
        return
    light = scene.lights[scene.nlight]
    light.type = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    light.dir[:] = (-0.3, 0.2, -1.0)
    light.pos[:] = (0.0, 0.0, 10.0)
    light.diffuse[:] = 0.5
    light.ambient[:] = 0.0
    light.specular[:] = 0.1
    light.castshadow = 0
    light.headlight = 0
    scene.nlight += 1


def _add_floor_grid(scene: mujoco.MjvScene, centre: np.ndarray, half_extent: int = 12, width_px: float = 1.5) -> None:
    """1 m lines on the floor around the camera target, snapped to whole metres so they stay put in the world."""
    cx, cy = np.round(centre[:2])
    rgba = np.array(GRID_RGBA, dtype=np.float32)
    identity = np.eye(3).ravel()
    for k in np.arange(-half_extent, half_extent + 1, dtype=np.float64):
        for start, end in (
            ((cx + k, cy - half_extent, 1e-3), (cx + k, cy + half_extent, 1e-3)),
            ((cx - half_extent, cy + k, 1e-3), (cx + half_extent, cy + k, 1e-3)),
        ):
            if scene.ngeom >= scene.maxgeom:
                return
            geom = scene.geoms[scene.ngeom]
            mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_LINE, np.zeros(3), np.zeros(3), identity, rgba)
            mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_LINE, width_px, np.array(start), np.array(end))
            scene.ngeom += 1


# ---- interactive viewer ----
class LiveViewer:
    """MuJoCo's passive viewer showing envs of an engine; `sync()` copies their current state in.

    The camera tracks the first shown character's root; the user can still orbit and zoom.
    """

    def __init__(self, engine, env_ids: list[int] | None = None, spacing: float = 1.5, ghost: GhostPose | None = None,
                 markers: MarkerSource | None = None):
        import mujoco.viewer

        self.characters = _PosedCharacters(engine, env_ids, spacing, azimuth=90.0, ghost=ghost, markers=markers)
        self.characters.update()
        self.handle = mujoco.viewer.launch_passive(
            self.characters.model, self.characters.datas[0], show_left_ui=False, show_right_ui=False
        )
        self.handle.cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        self.handle.cam.trackbodyid = 1
        self.handle.cam.distance = 4.0

    def is_running(self) -> bool:
        return self.handle.is_running()

    def sync(self) -> None:
        with self.handle.lock():
            self.characters.update()
            scene = self.handle.user_scn
            scene.ngeom = 0
            self.characters.add_others(scene, self.handle.opt, mujoco.MjvPerturb())
            self.characters.add_markers(scene)
        self.handle.sync()

    def close(self) -> None:
        self.handle.close()


def launch_viewer(engine, env_ids: list[int] | None = None, spacing: float = 1.5,
                  ghost: GhostPose | None = None, markers: MarkerSource | None = None) -> LiveViewer | None:
    """Open the interactive viewer, or return None with a clear message when no window can be opened."""
    if not has_display():
        log.warning("visualize=true needs a display (DISPLAY/WAYLAND_DISPLAY unset): skipping the interactive viewer; "
                    "record an mp4 headless with video=true instead")
        return None
    try:
        return LiveViewer(engine, env_ids, spacing, ghost, markers)
    except Exception as err:  # no GLFW, no GL on the display, macOS without mjpython ...
        log.warning("cannot open MuJoCo's viewer (%s: %s); skipping it", type(err).__name__, err)
        return None
