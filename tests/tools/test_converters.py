"""Converted clips reproduce their source skeleton's own forward kinematics on the project humanoid.

Source body positions are computed here from the SOURCE files alone (DeepMimic: the character file's joint offsets
and hierarchy in Y up, mapped to Z up; poselib: its skeleton_tree), independently of the converter code, and
compared with MuJoCo FK of the converted frames on the humanoid MJCF.
"""
import json
import math
import os
import pickle
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from mimickit.anim.motion import LoopMode, load_motion
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.tools.deepmimic_to_pkl import (
    HUMANOID3D_JOINTS,
    convert_deepmimic_clip,
    deepmimic_to_motion,
    load_deepmimic_character,
)
from mimickit.tools.deepmimic_to_pkl import main as deepmimic_main
from mimickit.tools.gmr_to_pkl import convert_gmr_motion, gmr_to_motion
from mimickit.tools.mujoco_checks import compute_body_positions, compute_lowest_point
from mimickit.tools.poselib_to_pkl import load_skeleton_motion, poselib_to_motion

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MIMICKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DEEPMIMIC_DIR = SHARED_DATA / "motions" / "deepmimic_txt"
POSELIB_DIR = SHARED_DATA / "motions" / "poselib_npy"
CHARACTER_FILE = SHARED_DATA / "humanoid" / "deepmimic_humanoid3d.txt"
# The project's humanoid once it exists; until then the reference model it must match (same names, tree, dofs).
HUMANOID_MJCF = DEFAULT_HUMANOID_MJCF if DEFAULT_HUMANOID_MJCF.is_file() else SHARED_DATA / "humanoid" / "humanoid.xml"

needs_shared = pytest.mark.skipif(not DEEPMIMIC_DIR.is_dir(), reason=f"shared mocap data not found at {SHARED_DATA}")

FK_TOL = 0.02  # m, frames sampled at the same instant as the source frame (in practice ~1e-6: float32 storage)
EXACT_FK_TOL = 1e-4  # m, for clips whose frames are the source frames (no resampling)
# Ground contact, measured on all 26 source clips with the capsule humanoid's geometry: in the 5th percentile of
# frames the lowest point is within [-7.5, -0.4] cm (mocap feet sink a little, e.g. AMP run), and no frame
# sinks deeper than 13.3 cm (sideflip).
GROUND_P5_RANGE = (-0.08, 0.02)
MAX_PENETRATION = 0.15

DM_TO_BODY = {
    "root": "pelvis", "chest": "torso", "neck": "head", "right_hip": "right_thigh", "right_knee": "right_shin",
    "right_ankle": "right_foot", "right_shoulder": "right_upper_arm", "right_elbow": "right_lower_arm",
    "right_wrist": "right_hand", "left_hip": "left_thigh", "left_knee": "left_shin", "left_ankle": "left_foot",
    "left_shoulder": "left_upper_arm", "left_elbow": "left_lower_arm", "left_wrist": "left_hand",
}  # fmt: skip


def _deepmimic_clips():
    return sorted(DEEPMIMIC_DIR.glob("humanoid3d_*.txt")) if DEEPMIMIC_DIR.is_dir() else []


def _poselib_clips():
    return sorted(POSELIB_DIR.glob("*.npy")) if POSELIB_DIR.is_dir() else []


@pytest.fixture(scope="module")
def humanoid():
    return KinematicCharacter(str(HUMANOID_MJCF)), mujoco.MjModel.from_xml_path(str(HUMANOID_MJCF))


def frames_to_qpos(character, frames):
    return character.frame_to_qpos(torch.as_tensor(frames, dtype=torch.float64)).numpy()


# ---- independent source FK (numpy, written from the format descriptions) ----


def _qmul_wxyz(a, b):
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
         aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1,
    )  # fmt: skip


def _qrot_wxyz(q, v):
    w, xyz = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(xyz, v)
    return v + w * t + np.cross(xyz, t)


def deepmimic_source_fk(clip_path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frame times and Z-up world positions of each DeepMimic joint, from the clip and the character file."""
    joints = sorted(json.loads(CHARACTER_FILE.read_text())["Skeleton"]["Joints"], key=lambda j: j["ID"])
    rows = np.asarray(json.loads(clip_path.read_text())["Frames"], dtype=np.float64)
    sizes = {"none": 7, "spherical": 4, "revolute": 1, "fixed": 0}
    pos, rot, col = {}, {}, 1
    for j in joints:
        p = rows[:, col : col + sizes[j["Type"]]]
        col += sizes[j["Type"]]
        if j["Type"] == "none":
            pos[j["ID"]], q = p[:, :3], p[:, 3:7]
        else:
            if j["Type"] == "spherical":
                q = p
            elif j["Type"] == "revolute":
                q = np.stack([np.cos(p[:, 0] / 2), 0 * p[:, 0], 0 * p[:, 0], np.sin(p[:, 0] / 2)], -1)
            else:
                q = np.tile([1.0, 0.0, 0.0, 0.0], (rows.shape[0], 1))
            parent = j["Parent"]
            attach = np.array([j["AttachX"], j["AttachY"], j["AttachZ"]])
            pos[j["ID"]] = pos[parent] + _qrot_wxyz(rot[parent], np.broadcast_to(attach, (rows.shape[0], 3)))
            q = _qmul_wxyz(rot[parent], q / np.linalg.norm(q, axis=-1, keepdims=True))
        rot[j["ID"]] = q / np.linalg.norm(q, axis=-1, keepdims=True)
    times = np.concatenate([[0.0], np.cumsum(rows[:-1, 0])])
    to_z_up = lambda p: np.stack([p[:, 0], -p[:, 2], p[:, 1]], -1)  # noqa: E731
    return times, {DM_TO_BODY[j["Name"]]: to_z_up(pos[j["ID"]]) for j in joints}


def poselib_source_fk(clip_path: Path) -> dict[str, np.ndarray]:
    d = np.load(clip_path, allow_pickle=True).item()  # trusted test data
    tree = d["skeleton_tree"]
    rot_xyzw = np.asarray(d["rotation"]["arr"], dtype=np.float64)
    q_local = rot_xyzw[..., [3, 0, 1, 2]]
    offsets = np.asarray(tree["local_translation"]["arr"], dtype=np.float64)
    parents = np.asarray(tree["parent_indices"]["arr"])
    pos, rot = {}, {}
    for j, name in enumerate(tree["node_names"]):
        if parents[j] < 0:
            pos[j], rot[j] = np.asarray(d["root_translation"]["arr"], dtype=np.float64), q_local[:, j]
        else:
            p = parents[j]
            pos[j] = pos[p] + _qrot_wxyz(rot[p], np.broadcast_to(offsets[j], pos[p].shape))
            rot[j] = _qmul_wxyz(rot[p], q_local[:, j])
    return {name: pos[j] for j, name in enumerate(tree["node_names"])}


def _converted_body_positions(humanoid, motion):
    character, model = humanoid
    qpos = frames_to_qpos(character, motion.frames)
    return dict(zip(character.body_names, np.moveaxis(compute_body_positions(model, qpos), 1, 0))), qpos


def _assert_on_ground(model, qpos, name):
    lowest = compute_lowest_point(model, qpos)
    p5 = np.percentile(lowest, 5)
    assert GROUND_P5_RANGE[0] <= p5 <= GROUND_P5_RANGE[1], f"{name}: 5th-percentile lowest point {p5:.3f} m"
    assert lowest.min() > -MAX_PENETRATION, f"{name}: sinks {-lowest.min():.3f} m into the ground"


# ---- DeepMimic ----


@needs_shared
def test_builtin_humanoid3d_layout_matches_character_file():
    assert load_deepmimic_character(CHARACTER_FILE) == HUMANOID3D_JOINTS


@needs_shared
@pytest.mark.parametrize("clip", _deepmimic_clips(), ids=lambda p: p.stem)
def test_deepmimic_clip_matches_source_fk(clip, humanoid):
    motion = deepmimic_to_motion(clip, HUMANOID_MJCF, CHARACTER_FILE)
    source = json.loads(clip.read_text())
    assert motion.loop_mode == (LoopMode.WRAP if source["Loop"] == "wrap" else LoopMode.CLAMP)
    times, source_pos = deepmimic_source_fk(clip)
    converted, qpos = _converted_body_positions(humanoid, motion)

    # compare each source frame with the converted frame at the same instant (identical unless resampled)
    out_times = np.arange(motion.num_frames) / motion.fps
    nearest = np.abs(times[:, None] - out_times[None, :]).argmin(1)
    assert np.abs(out_times[nearest] - times).max() < 1e-3
    resampled = motion.num_frames != len(times)
    tol = FK_TOL if resampled else EXACT_FK_TOL
    for body, p in source_pos.items():
        err = np.linalg.norm(converted[body][nearest] - p, axis=-1).max()
        assert err < tol, f"{clip.stem}: {body} off by {err:.4f} m"
    assert abs(motion.duration - times[-1]) < 0.5 / motion.fps
    _assert_on_ground(humanoid[1], qpos, clip.stem)


@needs_shared
def test_uneven_deepmimic_clip_is_resampled_uniformly():
    motion = deepmimic_to_motion(DEEPMIMIC_DIR / "humanoid3d_roll.txt", HUMANOID_MJCF)
    # 121 source rows span 2.016 s (one doubled segment): 122 uniform frames at 60 fps
    assert motion.fps == 60 and motion.num_frames == 122


def _tiny_clip(rows, loop="wrap"):
    return {"Loop": loop, "Frames": rows}


def _standing_row(dt=1 / 30):
    identity = [1.0, 0.0, 0.0, 0.0]
    row = [dt, 0.0, 0.9, 0.0, *identity]
    for joint in HUMANOID3D_JOINTS[1:]:
        row += {"spherical": identity, "revolute": [0.0], "fixed": []}[joint.kind]
    return row


def test_deepmimic_rest_pose_maps_to_arms_down_standing_pose(humanoid):
    character, model = humanoid
    motion = convert_deepmimic_clip(_tiny_clip([_standing_row(), _standing_row(0.0)]), character)
    frame = motion.frames[0]
    np.testing.assert_allclose(frame[:3], [0.0, 0.0, 0.9], atol=1e-6)  # (x, y, z)_dm -> (x, -z, y)
    np.testing.assert_allclose(frame[12:15], [math.pi / 2, 0, 0], atol=1e-6)  # right arm down from the T-pose
    np.testing.assert_allclose(frame[16:19], [-math.pi / 2, 0, 0], atol=1e-6)
    assert motion.fps == 30 and motion.loop_mode == LoopMode.WRAP


def test_deepmimic_bad_input_is_reported(humanoid, tmp_path):
    character, _ = humanoid
    with pytest.raises(ValueError, match="rows of 44 numbers"):
        convert_deepmimic_clip(_tiny_clip([_standing_row()[:-1]] * 2), character)
    with pytest.raises(ValueError, match="unknown Loop"):
        convert_deepmimic_clip(_tiny_clip([_standing_row()] * 2, loop="bounce"), character)
    zero_quat = _standing_row()
    zero_quat[4:8] = [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="zero-length quaternion"):
        convert_deepmimic_clip(_tiny_clip([zero_quat, _standing_row()]), character)
    with pytest.raises(FileNotFoundError):
        deepmimic_to_motion(tmp_path / "missing.txt", HUMANOID_MJCF)
    with pytest.raises(FileNotFoundError, match="MJCF"):
        deepmimic_to_motion(DEEPMIMIC_DIR / "humanoid3d_run.txt", tmp_path / "missing.xml")


def test_deepmimic_cli_writes_loadable_clip(tmp_path):
    clip = tmp_path / "stand.txt"
    clip.write_text(json.dumps(_tiny_clip([_standing_row(), _standing_row(), _standing_row(0.0)], loop="none")))
    out = tmp_path / "out" / "stand.pkl"
    deepmimic_main([str(clip), str(out), "--mjcf", str(HUMANOID_MJCF)])
    motion = load_motion(out, frame_dim=34)
    assert motion.num_frames == 3 and motion.loop_mode == LoopMode.CLAMP


# ---- poselib ----


@needs_shared
@pytest.mark.parametrize("clip", _poselib_clips(), ids=lambda p: p.stem)
def test_poselib_clip_matches_source_fk(clip, humanoid):
    motion = poselib_to_motion(clip, HUMANOID_MJCF)
    source_pos = poselib_source_fk(clip)
    converted, qpos = _converted_body_positions(humanoid, motion)
    assert motion.num_frames == len(source_pos["pelvis"])
    for body, p in source_pos.items():
        err = np.linalg.norm(converted[body] - p, axis=-1).max()
        assert err < EXACT_FK_TOL, f"{clip.stem}: {body} off by {err:.4f} m"
    _assert_on_ground(humanoid[1], qpos, clip.stem)


@needs_shared
def test_poselib_loader_refuses_code_in_pickles(tmp_path):
    clip = _poselib_clips()[0]
    reference = np.load(clip, allow_pickle=True).item()
    loaded = load_skeleton_motion(clip)
    np.testing.assert_array_equal(loaded["rotation"]["arr"], reference["rotation"]["arr"])

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.npy"
    np.save(evil, np.array({"rotation": Payload()}, dtype=object), allow_pickle=True)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_skeleton_motion(evil)
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros(3))
    with pytest.raises(ValueError, match="not a pickled SkeletonMotion"):
        load_skeleton_motion(plain)


# ---- GMR ----


def _write_gmr(path, fps, root_pos, root_rot_xyzw, dof_pos):
    data = {"fps": fps, "root_pos": root_pos, "root_rot": root_rot_xyzw, "dof_pos": dof_pos,
            "local_body_pos": None, "link_body_list": None}  # fmt: skip
    path.write_bytes(pickle.dumps(data))
    return path


@needs_shared
def test_gmr_humanoid_round_trip_matches_fk(humanoid, tmp_path):
    character, model = humanoid
    source = deepmimic_to_motion(DEEPMIMIC_DIR / "humanoid3d_cartwheel.txt", HUMANOID_MJCF)
    qpos = frames_to_qpos(character, source.frames)
    root_xyzw = qpos[:, [4, 5, 6, 3]]
    path = _write_gmr(tmp_path / "gmr.pkl", 60, qpos[:, :3], root_xyzw, qpos[:, 7:])

    motion = gmr_to_motion(path, HUMANOID_MJCF, LoopMode.WRAP)
    assert motion.fps == 60 and motion.loop_mode == LoopMode.WRAP and motion.frame_dim == 34
    err = np.abs(compute_body_positions(model, frames_to_qpos(character, motion.frames)) - compute_body_positions(model, qpos))
    assert err.max() < 1e-4

    swapped = _write_gmr(tmp_path / "wxyz.pkl", 60, qpos[:, :3], qpos[:, 3:7], qpos[:, 7:])
    wrong_order = gmr_to_motion(swapped, HUMANOID_MJCF)
    right_order = gmr_to_motion(swapped, HUMANOID_MJCF, root_rot_order="wxyz")
    assert np.abs(wrong_order.frames[:, 3:6] - motion.frames[:, 3:6]).max() > 0.1
    np.testing.assert_allclose(right_order.frames, motion.frames, atol=1e-5)


ARM_MJCF = """
<mujoco>
  <worldbody>
    <geom type="plane" size="5 5 0.1"/>
    <body name="base" pos="0 0 1">
      <freejoint/>
      <geom type="box" size="0.1 0.1 0.1"/>
      <body name="link1" pos="0 0 0.2">
        <joint name="j1" type="hinge" axis="0 1 0"/>
        <geom type="capsule" fromto="0 0 0 0 0 0.3" size="0.03"/>
        <body name="link2" pos="0 0 0.3">
          <joint name="j2" type="hinge" axis="1 1 0"/>
          <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03"/>
          <body name="tip" pos="0.3 0 0"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def test_gmr_hinge_robot_keeps_dof_angles(tmp_path):
    mjcf = tmp_path / "arm.xml"
    mjcf.write_text(ARM_MJCF)
    character = KinematicCharacter(str(mjcf))
    assert character.frame_dim == 8 and character.body_names == ["base", "link1", "link2", "tip"]
    t = np.linspace(0, 1, 20)
    dof_pos = np.stack([np.sin(3 * t), -2.5 * t], -1)
    root_pos = np.stack([t, 0 * t, 1 + 0 * t], -1)
    yaw = 0.7 * t
    root_xyzw = np.stack([0 * t, 0 * t, np.sin(yaw / 2), np.cos(yaw / 2)], -1)
    motion = gmr_to_motion(_write_gmr(tmp_path / "arm.pkl", 30.0, root_pos, root_xyzw, dof_pos), mjcf)
    np.testing.assert_allclose(motion.frames[:, 6:], dof_pos, atol=1e-6)
    np.testing.assert_allclose(motion.frames[:, 3:6], np.stack([0 * t, 0 * t, yaw], -1), atol=1e-6)


def test_gmr_bad_input_is_reported(humanoid, tmp_path):
    character, _ = humanoid
    n = 4
    good = {"fps": 30, "root_pos": np.zeros((n, 3)), "root_rot": np.tile([0, 0, 0, 1.0], (n, 1)), "dof_pos": np.zeros((n, 28))}
    convert_gmr_motion(good, character)
    with pytest.raises(ValueError, match=r"dof_pos must have shape \(4, 28\)"):
        convert_gmr_motion({**good, "dof_pos": np.zeros((n, 29))}, character)
    with pytest.raises(KeyError, match="root_rot"):
        convert_gmr_motion({k: v for k, v in good.items() if k != "root_rot"}, character)

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({**good, "fps": Payload()}))
    with pytest.raises(ValueError, match="refusing"):
        gmr_to_motion(evil, HUMANOID_MJCF)

