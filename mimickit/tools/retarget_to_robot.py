"""Retarget the project's humanoid clips onto a robot (the Unitree G1) with inverse kinematics on MuJoCo (`mink`).

Per clip, frame by frame (each frame's IK starts from the previous frame's solution):

1. Source key points: forward kinematics of the humanoid clip (hips, knees, ankles, shoulders, elbows, wrists).
2. Scaling: the root's path scales by s = robot hip height / humanoid hip height (both standing on the floor), so
   the strides fit the shorter legs. Each limb is rebuilt with the robot's own segment lengths along the source's
   segment directions, from the robot's hip or shoulder placed by the source's pelvis or torso rotation: the key
   points are the source's pose at the robot's proportions, so an IK that reaches them copies the pose.
3. Contacts: a foot is in contact where the source foot is near the floor and slow. While in contact its key point
   holds one horizontal position (the span's mean), so the robot's foot does not skate.
4. IK (mink, QP solver daqp): frame tasks on the key points (feet weighted most), orientation tasks on the pelvis,
   torso and feet, a light posture task (joints the source lacks, the wrists, stay near 0); the joint limits are
   constraints of every QP step, so the solution never leaves them.
5. Floor: each frame moves up or down so that a foot in contact touches the floor and nothing is below it.
6. Report per clip: foot skating (horizontal motion of a foot whose lowest point is within 5 mm of the floor, in
   m per frame, at consecutive frames both in contact), ground penetration (deepest collision geom below the
   floor), joint-limit violations, and how far the robot's key bodies are from the scaled key points.

CLI (writes <out-dir>/g1_<name>.pkl and g1_<name>.json, prints a table):
    python -m mimickit.tools.retarget_to_robot data/motions/humanoid/humanoid_walk.pkl --out-dir data/motions/g1
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import mujoco
import numpy as np
import torch
from omegaconf import OmegaConf

from mimickit.anim import rotations as rot
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.anim.motion import Motion, load_motion
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.utils.paths import CONF_DIR, resolve_path

LIMIT_TOL = 1e-6  # rad: a joint beyond its range by more than this is a violation
REPORT_CONTACT_HEIGHT = 0.005  # m: a foot whose lowest point is this low touches the floor (in the report)


@dataclass(frozen=True)
class Chain:
    """A limb: key points (robot body, source body) from its root joint to its end. The first is placed rigidly
    by `frame` (a robot body and the source body whose rotation it takes), each next one at the robot's segment
    length along the source's segment direction."""

    frame: tuple[str, str]
    keys: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BodyMap:
    """Which robot body follows which source (humanoid) body."""

    root: tuple[str, str]
    chains: tuple[Chain, ...]
    oriented: tuple[tuple[str, str], ...]  # bodies whose rotation follows the source body's
    feet: tuple[tuple[str, str], ...]  # (robot foot body, source foot body), left then right
    hips: tuple[str, str]  # robot bodies whose midpoint is the hip centre (the source's is its pelvis origin)


def _side(side: str, robot: str, source: str) -> tuple[str, str]:
    return robot.format(side=side), source.format(side=side)


G1_FROM_HUMANOID = BodyMap(
    root=("pelvis", "pelvis"),
    chains=tuple(
        Chain(frame=frame, keys=tuple(_side(side, r, s) for r, s in keys))
        for side in ("left", "right")
        for frame, keys in (
            (("pelvis", "pelvis"), (("{side}_hip_roll_link", "{side}_thigh"), ("{side}_knee_link", "{side}_shin"),
                                    ("{side}_ankle_roll_link", "{side}_foot"))),
            (("torso_link", "torso"), (("{side}_shoulder_roll_link", "{side}_upper_arm"),
                                       ("{side}_elbow_link", "{side}_lower_arm"),
                                       ("{side}_wrist_roll_link", "{side}_hand"))),
        )
    ),
    oriented=(("pelvis", "pelvis"), ("torso_link", "torso"), ("left_ankle_roll_link", "left_foot"),
              ("right_ankle_roll_link", "right_foot")),
    feet=(("left_ankle_roll_link", "left_foot"), ("right_ankle_roll_link", "right_foot")),
    hips=("left_hip_roll_link", "right_hip_roll_link"),
)


@dataclass
class RetargetSettings:
    """IK weights and contact thresholds (the defaults are what produced docs/robots.md's numbers)."""

    foot_cost: float = 10.0  # position cost of the ankle key points
    key_cost: float = 1.0  # position cost of the knee, elbow and wrist key points
    root_cost: float = 5.0  # position and orientation cost of the pelvis
    orientation_cost: float = 2.0  # torso and feet orientation
    posture_cost: float = 0.02  # pull towards the zero pose (joints the source cannot tell)
    damping: float = 1e-3  # Levenberg-Marquardt damping of each QP
    first_frame_iters: int = 200  # IK steps of the first frame (from the zero pose)
    frame_iters: int = 25  # IK steps of every other frame (from the previous frame)
    tol: float = 1e-5  # stop a frame's iterations once a step moves every coordinate less than this
    contact_height: float = 0.06  # m, source foot (ankle) height above its standing height that may be in contact
    contact_speed: float = 0.6  # m/s, source foot horizontal speed below which it may be in contact
    swing_clearance: float = 0.01  # m, a foot out of contact whose lowest point comes closer is lifted to this


@dataclass
class RetargetReport:
    """Quality of one retargeted clip; lengths in metres."""

    clip: str
    frames: int
    fps: float
    scale: float  # robot / humanoid hip height
    contact_share: float  # share of foot-frames in contact (report definition)
    skating_mean: float  # m per frame, mean horizontal motion of a foot in contact at two consecutive frames
    skating_max: float  # m per frame
    penetration_max: float  # m, deepest collision geom below the floor (0: none)
    limit_violations: int  # (frame, joint) pairs beyond the joint range by more than LIMIT_TOL
    limit_violation_max: float  # rad
    key_error_mean: float  # m, robot key bodies vs the scaled source key points (after the floor shift)
    key_error_max: float
    foot_error_mean: float  # m, ankles only
    foot_error_max: float
    seconds: float  # time the retargeting took


@dataclass
class RobotModel:
    """A robot's MJCF for IK and measuring: its MuJoCo model and the facts the retargeting reads from it."""

    model: mujoco.MjModel
    collision_geoms: np.ndarray  # geoms that collide (visual meshes excluded)
    rest_pos: dict[str, np.ndarray]  # body positions at the zero pose
    rest_rot: dict[str, np.ndarray]  # body rotations (xyzw) at the zero pose
    hip_height: float  # hip centre above the lowest collision point at the zero pose
    lowest: float  # the lowest collision point's height at the zero pose

    @classmethod
    def load(cls, mjcf: str | Path, hips: tuple[str, str]) -> RobotModel:
        model = mujoco.MjModel.from_xml_path(str(resolve_path(mjcf, "robot MJCF")))
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        collision = np.flatnonzero((model.geom_bodyid > 0) & ((model.geom_contype | model.geom_conaffinity) != 0))
        names = [model.body(b).name for b in range(model.nbody)]
        rest_pos = {n: data.xpos[b].copy() for b, n in enumerate(names)}
        rest_rot = {n: data.xquat[b][[1, 2, 3, 0]].copy() for b, n in enumerate(names)}
        hip = 0.5 * (rest_pos[hips[0]] + rest_pos[hips[1]])
        lowest = compute_geom_lowest_z(model, data, collision).min()
        return cls(model, collision, rest_pos, rest_rot, float(hip[2] - lowest), float(lowest))


def compute_geom_lowest_z(model: mujoco.MjModel, data: mujoco.MjData, geoms: np.ndarray) -> np.ndarray:
    """(len(geoms),) height of each geom's lowest point: exact for spheres, capsules, cylinders and boxes, the
    rotated bounding box's for other types."""
    z = data.geom_xpos[geoms, 2]
    axis_z = data.geom_xmat[geoms].reshape(-1, 3, 3)[:, 2, :]  # world z-row: z-components of the geom's axes
    size = model.geom_size[geoms]
    kind = model.geom_type[geoms]
    T = mujoco.mjtGeom
    sphere = z - size[:, 0]
    capsule = z - np.abs(axis_z[:, 2]) * size[:, 1] - size[:, 0]
    cylinder = z - np.abs(axis_z[:, 2]) * size[:, 1] - size[:, 0] * np.sqrt(np.clip(1 - axis_z[:, 2] ** 2, 0, 1))
    box = z - np.sum(np.abs(axis_z) * size, axis=1)
    centre, half = model.geom_aabb[geoms, :3], model.geom_aabb[geoms, 3:]
    aabb = z + np.sum(axis_z * centre, axis=1) - np.sum(np.abs(axis_z) * half, axis=1)
    return np.select([kind == T.mjGEOM_SPHERE, kind == T.mjGEOM_CAPSULE, kind == T.mjGEOM_CYLINDER, kind == T.mjGEOM_BOX],
                     [sphere, capsule, cylinder, box], aabb)


@dataclass
class SourceClip:
    """The humanoid clip as world body positions (N, B, 3) and rotations (N, B, 4) xyzw by body name."""

    motion: Motion
    body_pos: dict[str, np.ndarray]
    body_rot: dict[str, np.ndarray]
    rest_rot: dict[str, np.ndarray]
    hip_height: float  # standing hip (pelvis origin) height above the lowest point
    ankle_height: dict[str, float]  # standing foot body heights above the lowest point

    @classmethod
    def load(cls, motion: Motion, mjcf: str | Path = DEFAULT_HUMANOID_MJCF) -> SourceClip:
        character = KinematicCharacter(str(mjcf))
        frames = torch.as_tensor(motion.frames, dtype=torch.float64)
        root_pos, root_rot = character.frame_to_root(frames)
        joint_rot = character.frame_dofs_to_joint_rot(frames[:, 6:])
        pos, quat = character.forward_kinematics(root_pos, root_rot, joint_rot)
        names = character.body_names
        model = mujoco.MjModel.from_xml_path(character.mjcf_file)
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        geoms = np.flatnonzero(model.geom_bodyid > 0)
        lowest = compute_geom_lowest_z(model, data, geoms).min()
        rest = {model.body(b).name: data.xpos[b].copy() for b in range(model.nbody)}
        rest_rot = {model.body(b).name: data.xquat[b][[1, 2, 3, 0]].copy() for b in range(model.nbody)}
        return cls(
            motion=motion,
            body_pos={n: pos[:, i].numpy() for i, n in enumerate(names)},
            body_rot={n: quat[:, i].numpy() for i, n in enumerate(names)},
            rest_rot=rest_rot,
            hip_height=float(rest[names[0]][2] - lowest),
            ankle_height={n: float(rest[n][2] - lowest) for n in names},
        )


@dataclass
class Targets:
    """Per-frame IK targets: positions (N, 3) of key bodies and rotations (N, 4) xyzw of oriented bodies."""

    pos: dict[str, np.ndarray]
    rot: dict[str, np.ndarray]
    contact: dict[str, np.ndarray]  # robot foot body -> (N,) bool, source contact flags


def _rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    return rot.quat_rotate(torch.as_tensor(q), torch.as_tensor(v, dtype=torch.float64).expand(q.shape[0], 3)).numpy()


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return rot.quat_mul(torch.as_tensor(a), torch.as_tensor(b, dtype=torch.float64).expand_as(torch.as_tensor(a))).numpy()


def compute_source_contacts(source: SourceClip, foot: str, settings: RetargetSettings) -> np.ndarray:
    """(N,) bool: the source foot is near its standing height above the floor and moves slowly."""
    pos = source.body_pos[foot]
    height = pos[:, 2] - source.ankle_height[foot]
    vel = np.gradient(pos[:, :2], axis=0) * source.motion.fps
    return (height < settings.contact_height) & (np.linalg.norm(vel, axis=1) < settings.contact_speed)


def compute_contact_spans(contact: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], contact.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def compute_targets(source: SourceClip, robot: RobotModel, body_map: BodyMap, settings: RetargetSettings) -> Targets:
    """The scaled key points and rotations every frame's IK aims at (see the module docstring, steps 1-3)."""
    scale = robot.hip_height / source.hip_height
    src_rot = {b: _mul(q, rot.quat_conjugate(torch.as_tensor(source.rest_rot[b])).numpy())
               for b, q in source.body_rot.items()}  # source rotations relative to its rest pose

    def robot_rot(robot_body: str, source_body: str) -> np.ndarray:
        return _mul(src_rot[source_body], robot.rest_rot[robot_body])

    def rest_offset(parent: str, child: str) -> np.ndarray:
        """child's rest position in parent's rest frame"""
        inv = rot.quat_conjugate(torch.as_tensor(robot.rest_rot[parent]))
        return rot.quat_rotate(inv, torch.as_tensor(robot.rest_pos[child] - robot.rest_pos[parent])).numpy()

    root_robot, root_source = body_map.root
    root_rot = robot_rot(root_robot, root_source)
    hip_centre = 0.5 * (robot.rest_pos[body_map.hips[0]] + robot.rest_pos[body_map.hips[1]])
    root_from_hips = rot.quat_rotate(rot.quat_conjugate(torch.as_tensor(robot.rest_rot[root_robot])),
                                     torch.as_tensor(robot.rest_pos[root_robot] - hip_centre)).numpy()
    pos = {root_robot: scale * source.body_pos[root_source] + _rotate(root_rot, root_from_hips)}
    rots = {r: robot_rot(r, s) for r, s in body_map.oriented}
    for chain in body_map.chains:
        frame_robot, frame_source = chain.frame
        frame_pos = pos[root_robot] + _rotate(root_rot, rest_offset(root_robot, frame_robot))
        prev_robot, prev_source = chain.keys[0]
        pos[prev_robot] = frame_pos + _rotate(robot_rot(frame_robot, frame_source), rest_offset(frame_robot, prev_robot))
        for robot_body, source_body in chain.keys[1:]:
            length = np.linalg.norm(robot.rest_pos[robot_body] - robot.rest_pos[prev_robot])
            direction = source.body_pos[source_body] - source.body_pos[prev_source]
            direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
            pos[robot_body] = pos[prev_robot] + length * direction
            prev_robot, prev_source = robot_body, source_body

    contact = {}
    for robot_foot, source_foot in body_map.feet:
        # a foot's height above the floor is the robot's standing height plus the source's lift, scaled
        lift = source.body_pos[source_foot][:, 2] - source.ankle_height[source_foot]
        pos[robot_foot][:, 2] = robot.rest_pos[robot_foot][2] - robot.lowest + scale * lift
        contact[robot_foot] = compute_source_contacts(source, source_foot, settings)
        for start, end in compute_contact_spans(contact[robot_foot]):
            pos[robot_foot][start:end, :2] = pos[robot_foot][start:end, :2].mean(axis=0)
    return Targets(pos=pos, rot=rots, contact=contact)


def solve_ik(
    robot: RobotModel, targets: Targets, body_map: BodyMap, settings: RetargetSettings, start: np.ndarray | None = None
) -> np.ndarray:
    """(N, nq) robot configurations reaching the targets frame by frame, within the joint limits; each frame's
    iterations start from the previous frame's solution, or from `start` (N, nq) where given."""
    import mink

    model = robot.model
    feet = {r for r, _ in body_map.feet}
    root = body_map.root[0]
    tasks = {}
    for body in targets.pos.keys() | targets.rot.keys():
        if body == root:
            cost = (settings.root_cost, settings.root_cost)
        else:
            position = (settings.foot_cost if body in feet else settings.key_cost) if body in targets.pos else 0.0
            cost = (position, settings.orientation_cost if body in targets.rot else 0.0)
        tasks[body] = mink.FrameTask(body, "body", position_cost=cost[0], orientation_cost=cost[1])
    posture = mink.PostureTask(model, cost=settings.posture_cost)
    posture.set_target(model.qpos0)
    limits = [mink.ConfigurationLimit(model)]
    configuration = mink.Configuration(model)
    num_frames = next(iter(targets.pos.values())).shape[0]
    identity = np.array([0.0, 0.0, 0.0, 1.0])
    q = model.qpos0.copy()
    q[:3] = targets.pos[root][0]
    q[3:7] = targets.rot[root][0][[3, 0, 1, 2]]
    configuration.update(q)
    out = np.zeros((num_frames, model.nq))
    for f in range(num_frames):
        if start is not None:
            configuration.update(start[f])
        for body, task in tasks.items():
            quat = targets.rot[body][f] if body in targets.rot else identity
            translation = targets.pos[body][f] if body in targets.pos else np.zeros(3)
            task.set_target(mink.SE3.from_rotation_and_translation(mink.SO3(quat[[3, 0, 1, 2]]), translation))
        for _ in range(settings.first_frame_iters if f == 0 and start is None else settings.frame_iters):
            velocity = mink.solve_ik(configuration, [*tasks.values(), posture], 1.0, "daqp",
                                     damping=settings.damping, limits=limits)
            configuration.integrate_inplace(velocity, 1.0)
            if np.abs(velocity).max() < settings.tol:
                break
        out[f] = configuration.q
    return out


def fix_floor(robot: RobotModel, qpos: np.ndarray, contact: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) height added to each frame's root: a foot in contact touches the floor, nothing is below it."""
    model, data = robot.model, mujoco.MjData(robot.model)
    foot_ids = [model.body(name).id for name in contact]
    foot_geoms = robot.collision_geoms[np.isin(model.geom_bodyid[robot.collision_geoms], foot_ids)]
    shift = np.zeros(len(qpos))
    for f, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        lowest_all = compute_geom_lowest_z(model, data, robot.collision_geoms).min()
        lowest_feet = compute_geom_lowest_z(model, data, foot_geoms).min()
        in_contact = any(c[f] for c in contact.values())
        shift[f] = max(-lowest_feet if in_contact else 0.0, -lowest_all)
    return shift


def lift_swing_feet(robot: RobotModel, qpos: np.ndarray, targets: Targets, clearance: float) -> bool:
    """Raise the targets of feet out of contact whose lowest point (in `qpos`, floor-fixed) is closer to the floor
    than `clearance` by what they lack; returns whether any was raised."""
    model, data = robot.model, mujoco.MjData(robot.model)
    geoms = {foot: robot.collision_geoms[model.geom_bodyid[robot.collision_geoms] == model.body(foot).id]
             for foot in targets.contact}
    raised = False
    for f, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        for foot, contact in targets.contact.items():
            lack = clearance - compute_geom_lowest_z(model, data, geoms[foot]).min()
            if not contact[f] and lack > 0:
                targets.pos[foot][f, 2] += lack
                raised = True
    return raised


def evaluate(robot: RobotModel, qpos: np.ndarray, targets: Targets, feet: list[str]) -> dict[str, float]:
    """The report's measures of a retargeted clip (see RetargetReport)."""
    model, data = robot.model, mujoco.MjData(robot.model)
    foot_ids = {name: model.body(name).id for name in feet}
    foot_geoms = {name: robot.collision_geoms[model.geom_bodyid[robot.collision_geoms] == i] for name, i in foot_ids.items()}
    key_ids = {name: model.body(name).id for name in targets.pos}
    n = len(qpos)
    foot_low = np.zeros((n, len(feet)))
    foot_xy = np.zeros((n, len(feet), 2))
    penetration = np.zeros(n)
    key_err = {name: np.zeros(n) for name in key_ids}
    for f, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        penetration[f] = max(0.0, -compute_geom_lowest_z(model, data, robot.collision_geoms).min())
        for k, name in enumerate(feet):
            foot_low[f, k] = compute_geom_lowest_z(model, data, foot_geoms[name]).min()
            foot_xy[f, k] = data.xpos[foot_ids[name], :2]
        for name, i in key_ids.items():
            key_err[name][f] = np.linalg.norm(data.xpos[i] - targets.pos[name][f])
    in_contact = foot_low < REPORT_CONTACT_HEIGHT
    both = in_contact[1:] & in_contact[:-1]
    steps = np.linalg.norm(np.diff(foot_xy, axis=0), axis=-1)[both]
    hinge_q = qpos[:, 7:]
    low, high = robot.model.jnt_range[1:, 0], robot.model.jnt_range[1:, 1]
    beyond = np.maximum(low - hinge_q, hinge_q - high)
    errors = np.stack(list(key_err.values()), axis=1)
    foot_errors = np.stack([key_err[name] for name in feet], axis=1)
    return {
        "contact_share": float(in_contact.mean()),
        "skating_mean": float(steps.mean()) if steps.size else 0.0,
        "skating_max": float(steps.max()) if steps.size else 0.0,
        "penetration_max": float(penetration.max()),
        "limit_violations": int((beyond > LIMIT_TOL).sum()),
        "limit_violation_max": float(max(beyond.max(), 0.0)),
        "key_error_mean": float(errors.mean()),
        "key_error_max": float(errors.max()),
        "foot_error_mean": float(foot_errors.mean()),
        "foot_error_max": float(foot_errors.max()),
    }


def retarget_motion(
    motion: Motion,
    robot_mjcf: str | Path,
    body_map: BodyMap = G1_FROM_HUMANOID,
    settings: RetargetSettings | None = None,
    source_mjcf: str | Path = DEFAULT_HUMANOID_MJCF,
    name: str = "clip",
) -> tuple[Motion, RetargetReport]:
    """A humanoid clip as a clip of the robot, and its quality report."""
    settings = settings or RetargetSettings()
    start = time.perf_counter()
    source = SourceClip.load(motion, source_mjcf)
    robot = RobotModel.load(robot_mjcf, body_map.hips)
    targets = compute_targets(source, robot, body_map, settings)
    qpos = solve_ik(robot, targets, body_map, settings)
    shift = fix_floor(robot, qpos, targets.contact)
    if lift_swing_feet(robot, qpos + shift[:, None] * np.eye(robot.model.nq)[2], targets, settings.swing_clearance):
        qpos = solve_ik(robot, targets, body_map, settings, start=qpos)
        shift = fix_floor(robot, qpos, targets.contact)
    qpos[:, 2] += shift
    for position in targets.pos.values():
        position[:, 2] += shift
    low, high = robot.model.jnt_range[1:, 0], robot.model.jnt_range[1:, 1]
    qpos[:, 7:] = np.clip(qpos[:, 7:], low, high)  # the QP keeps them inside; this removes round-off
    character = KinematicCharacter(str(resolve_path(robot_mjcf, "robot MJCF")))
    frames = character.qpos_to_frame(torch.as_tensor(qpos)).numpy()
    out = Motion(fps=motion.fps, loop_mode=motion.loop_mode, frames=frames)
    measures = evaluate(robot, qpos, targets, [r for r, _ in body_map.feet])
    report = RetargetReport(clip=name, frames=out.num_frames, fps=float(motion.fps),
                            scale=robot.hip_height / source.hip_height, seconds=time.perf_counter() - start, **measures)
    return out, report


def robot_mjcf(robot: str) -> str:
    """The MJCF a conf/robot option names (a path or package:// URL)."""
    return str(OmegaConf.load(CONF_DIR / "robot" / f"{robot}.yaml").mjcf)


def output_name(clip: Path, robot: str) -> str:
    stem = clip.stem
    return f"{robot}_{stem.removeprefix('humanoid_')}"


def format_table(reports: list[RetargetReport]) -> str:
    header = ("| clip | frames | skating mean / max (mm/frame) | penetration max (mm) | limit violations | "
              "key error mean / max (cm) | foot error mean / max (cm) | time (s) |")
    lines = [header, "|" + "---|" * 8]
    for r in reports:
        lines.append(
            f"| {r.clip} | {r.frames} | {1e3 * r.skating_mean:.2f} / {1e3 * r.skating_max:.2f} | "
            f"{1e3 * r.penetration_max:.2f} | {r.limit_violations} | {1e2 * r.key_error_mean:.1f} / "
            f"{1e2 * r.key_error_max:.1f} | {1e2 * r.foot_error_mean:.1f} / {1e2 * r.foot_error_max:.1f} | "
            f"{r.seconds:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path, help="humanoid .pkl clips (data/motions/humanoid/...)")
    parser.add_argument("--robot", default="g1", help="conf/robot option (only g1 has a body map)")
    parser.add_argument("--out-dir", type=Path, default=Path("data/motions/g1"), help="where the clips go")
    args = parser.parse_args(argv)
    if args.robot != "g1":
        raise SystemExit(f"no body map for robot {args.robot!r}; known: g1")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    for clip in args.clips:
        name = output_name(clip, args.robot)
        motion, report = retarget_motion(load_motion(clip), robot_mjcf(args.robot), name=name)
        motion.save(args.out_dir / f"{name}.pkl")
        (args.out_dir / f"{name}.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
        reports.append(report)
        print(f"{args.out_dir / name}.pkl: {motion.num_frames} frames at {motion.fps:g} fps", flush=True)
    print(format_table(reports))


if __name__ == "__main__":
    main()
