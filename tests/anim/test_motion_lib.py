import math
import os
import pickle
from pathlib import Path

import pytest
import torch

from mimickit.anim import rotations as rot
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.anim.motion import LoopMode, Motion, MotionFormatError, load_motion
from mimickit.anim.motion_lib import MAX_JOINT_ANG_SPEED, MotionLib, load_motion_entries

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MIMICKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PKL_DIR = SHARED_DATA / "motions" / "mimickit_pkl" / "humanoid"
CONVERTED_DIR = REPO_ROOT / "data" / "motions" / "humanoid"
PROJECT_MJCF = REPO_ROOT / "data" / "assets" / "humanoid" / "capsule_humanoid.xml"
HUMANOID_MJCF = PROJECT_MJCF if PROJECT_MJCF.is_file() else SHARED_DATA / "humanoid" / "humanoid.xml"

pytestmark = pytest.mark.skipif(not HUMANOID_MJCF.is_file(), reason="no humanoid MJCF found")
needs_shared = pytest.mark.skipif(not PKL_DIR.is_dir(), reason=f"shared mocap data not found at {PKL_DIR}")
MIN_FPS = 60.0  # slower clips are upsampled at load


@pytest.fixture(scope="module")
def character():
    return KinematicCharacter(str(HUMANOID_MJCF))


def make_clip(character, path, num_frames=61, fps=60.0, loop_mode=LoopMode.WRAP, speed=1.0, phase=0.0):
    """A smooth synthetic clip: hinge angles oscillate inside their ranges, the root walks along x and sways.

    Everything but the forward travel has a period of 1 s, so a 1 s clip closes its loop."""
    t = torch.arange(num_frames, dtype=torch.float64).unsqueeze(-1) / fps
    w = 2 * math.pi * t
    low, high = character.dof_low.double(), character.dof_high.double()
    centre, amplitude = 0.5 * (low + high), 0.15 * (high - low)
    freq = 1.0 + torch.arange(character.num_dofs, dtype=torch.float64) % 2
    dof_pos = centre + amplitude * torch.sin(freq * w + phase)
    root_pos = torch.cat([speed * t, 0.1 * torch.sin(w), 0.9 + 0.05 * torch.cos(2 * w)], -1)
    z, x = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    yaw = rot.quat_from_axis_angle(z.expand(num_frames, 3), 0.4 * torch.sin(w[:, 0]))
    roll = rot.quat_from_axis_angle(x.expand(num_frames, 3), 0.2 * torch.sin(2 * w[:, 0]))
    frames = character.dof_pos_to_frame(root_pos, rot.quat_mul(yaw, roll), dof_pos)
    Motion(fps=fps, loop_mode=loop_mode, frames=frames.numpy()).save(path)
    return str(path)


@pytest.fixture(scope="module")
def clip_file(character, tmp_path_factory):
    return make_clip(character, tmp_path_factory.mktemp("clips") / "wave.pkl")


@pytest.fixture(scope="module")
def lib(character, clip_file):
    return MotionLib(clip_file, character, min_fps=MIN_FPS)


def _ids(n, motion_id=0):
    return torch.full((n,), motion_id, dtype=torch.long)


def test_exact_frame_times_reproduce_the_frames(lib, character, clip_file):
    from mimickit.anim.motion import load_motion

    frames = torch.as_tensor(load_motion(clip_file).frames, dtype=torch.float64)[:-1]  # the last wraps to frame 0
    times = torch.arange(frames.shape[0], dtype=torch.float32) / 60.0
    ref = lib.calc_motion_frame(_ids(frames.shape[0]), times)
    root_pos, root_rot = character.frame_to_root(frames)
    body_pos, body_rot = character.forward_kinematics(root_pos, root_rot, character.frame_dofs_to_joint_rot(frames[:, 6:]))
    torch.testing.assert_close(ref.root_pos.double(), root_pos, atol=1e-5, rtol=0)
    assert rot.quat_diff_angle(ref.root_rot.double(), root_rot).max() < 1e-5
    torch.testing.assert_close(ref.dof_pos.double(), character.frame_to_dof_pos(frames), atol=1e-5, rtol=0)
    torch.testing.assert_close(ref.body_pos.double(), body_pos, atol=1e-5, rtol=0)
    assert rot.quat_diff_angle(ref.body_rot.double(), body_rot).max() < 1e-5


def test_midpoint_lies_between_the_frames(lib):
    times = (torch.arange(10, dtype=torch.float32) + 0.5) / 60.0
    mid = lib.calc_motion_frame(_ids(10), times)
    before = lib.calc_motion_frame(_ids(10), times - 0.5 / 60.0)
    after = lib.calc_motion_frame(_ids(10), times + 0.5 / 60.0)
    torch.testing.assert_close(mid.body_pos, 0.5 * (before.body_pos + after.body_pos), atol=1e-6, rtol=0)
    torch.testing.assert_close(mid.dof_pos, 0.5 * (before.dof_pos + after.dof_pos), atol=1e-6, rtol=0)
    half = rot.quat_diff_angle(mid.body_rot, before.body_rot)
    torch.testing.assert_close(half, rot.quat_diff_angle(mid.body_rot, after.body_rot), atol=2e-4, rtol=0)
    torch.testing.assert_close(2 * half, rot.quat_diff_angle(before.body_rot, after.body_rot), atol=2e-4, rtol=0)


def test_wrap_continues_the_root_and_clamp_holds(character, lib, tmp_path):
    length = lib.get_motion_length(_ids(1)).item()
    assert length == pytest.approx(1.0)
    eps = 1e-3
    times = torch.tensor([length - eps, length + eps, 3 * length + 0.25, 0.25, -length + 0.25])
    ref = lib.calc_motion_frame(_ids(5), times, with_body_vel=True)
    # across the wrap every body moves by what its speed allows in 2 eps: no jump
    travel = 2 * eps * ref.body_lin_vel[0].norm(dim=-1)
    assert ((ref.body_pos[1] - ref.body_pos[0]).norm(dim=-1) < 1.2 * travel + 1e-4).all()
    delta = lib.motion_wrap_delta[0]
    assert delta[0] == pytest.approx(1.0, abs=1e-5) and delta[2] == 0.0  # horizontal displacement per cycle
    torch.testing.assert_close(ref.root_pos[2], ref.root_pos[3] + 3 * delta, atol=1e-4, rtol=0)
    torch.testing.assert_close(ref.root_pos[4], ref.root_pos[3] - delta, atol=1e-4, rtol=0)
    torch.testing.assert_close(ref.body_pos[2] - ref.root_pos[2], ref.body_pos[3] - ref.root_pos[3], atol=1e-4, rtol=0)
    torch.testing.assert_close(ref.root_rot[2], ref.root_rot[3], atol=1e-5, rtol=0)  # heading is not carried over

    clamp = MotionLib(make_clip(character, tmp_path / "c.pkl", loop_mode=LoopMode.CLAMP), character, min_fps=MIN_FPS)
    ref = clamp.calc_motion_frame(_ids(4), torch.tensor([length, 5 * length, 0.0, -2.0]))
    torch.testing.assert_close(ref.root_pos[1], ref.root_pos[0])
    torch.testing.assert_close(ref.root_pos[3], ref.root_pos[2])
    assert not clamp.is_wrapping(_ids(1)).item() and lib.is_wrapping(_ids(1)).item()


def test_velocities_match_finite_differences_of_queries(lib):
    # at frame times, with steps of one frame, the stored velocities are exactly the queries' central differences
    dt = 1.0 / 60.0
    times = torch.arange(1, 59, dtype=torch.float64) * dt
    ref, fwd, bwd = (lib.calc_motion_frame(_ids(58), (times + s).float(), with_body_vel=True) for s in (0, dt, -dt))
    torch.testing.assert_close(ref.body_lin_vel, (fwd.body_pos - bwd.body_pos) / (2 * dt), atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(ref.root_lin_vel, ref.body_lin_vel[:, 0])
    ang = rot.quat_to_angular_velocity(bwd.body_rot.double(), fwd.body_rot.double(), 2 * dt).float()
    torch.testing.assert_close(ref.body_ang_vel, ang, atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(ref.root_ang_vel, ref.body_ang_vel[:, 0])
    dof = (fwd.dof_pos - bwd.dof_pos) / (2 * dt)  # rates from rotations vs angle differences: second order apart
    assert (ref.dof_vel - dof).abs().max() < 0.02 * dof.abs().max()

    # between frames they are blended, while the queried positions follow straight segments: close on average
    torch.manual_seed(0)
    h = 1e-3
    times = lib.sample_times(_ids(500), truncate_time=2 * h) + h
    ref, fwd, bwd = (lib.calc_motion_frame(_ids(500), times + s, with_body_vel=True) for s in (0, h, -h))
    lin = (fwd.body_pos - bwd.body_pos) / (2 * h)
    assert (ref.body_lin_vel - lin).norm(dim=-1).median() < 0.03 * lin.norm(dim=-1).max()
    dof = (fwd.dof_pos - bwd.dof_pos) / (2 * h)
    assert (ref.dof_vel - dof).abs().median() < 0.03 * dof.abs().max()


def test_dataset_weights_and_relative_paths(character, tmp_path):
    (tmp_path / "clips").mkdir()
    make_clip(character, tmp_path / "clips" / "a.pkl", num_frames=31)
    make_clip(character, tmp_path / "clips" / "b.pkl", num_frames=91, fps=30.0, loop_mode=LoopMode.CLAMP)
    dataset = tmp_path / "sets" / "two.yaml"
    dataset.parent.mkdir()
    dataset.write_text("motions:\n  - {file: ../clips/a.pkl, weight: 1}\n  - {file: ../clips/b.pkl, weight: 3}\n")
    lib = MotionLib(str(dataset), character, min_fps=MIN_FPS)
    assert lib.num_motions == 2
    torch.testing.assert_close(lib.get_motion_length(torch.tensor([0, 1])), torch.tensor([0.5, 3.0]))
    assert lib.motion_fps.tolist() == [60.0, 60.0]  # the 30 fps clip was upsampled to min_fps
    torch.manual_seed(0)
    ids = lib.sample_motions(200_000)
    assert abs(ids.float().mean().item() - 0.75) < 0.005
    times = lib.sample_times(ids, truncate_time=0.25)
    assert (times >= 0).all() and (times <= lib.get_motion_length(ids) - 0.25 + 1e-6).all()


def test_million_queries(character, tmp_path):
    make_clip(character, tmp_path / "a.pkl", num_frames=31)
    make_clip(character, tmp_path / "b.pkl", num_frames=121, loop_mode=LoopMode.CLAMP, phase=1.0)
    (tmp_path / "set.yaml").write_text("motions:\n  - {file: a.pkl, weight: 1}\n  - {file: b.pkl, weight: 1}\n")
    lib = MotionLib(str(tmp_path / "set.yaml"), character, min_fps=MIN_FPS)
    ids = lib.sample_motions(1_000_000)
    ref = lib.calc_motion_frame(ids, lib.sample_times(ids))
    assert ref.body_pos.shape == (1_000_000, 15, 3) and ref.dof_vel.shape == (1_000_000, 28)
    assert ref.body_lin_vel is None
    assert torch.isfinite(ref.body_rot).all() and torch.isfinite(ref.dof_pos).all()
    torch.testing.assert_close(ref.body_rot.norm(dim=-1), torch.ones(1_000_000, 15), atol=1e-5, rtol=0)


def test_bad_inputs_are_reported(character, lib, tmp_path, clip_file):
    with pytest.raises(ValueError, match="must be 1-D and of the same length"):
        lib.calc_motion_frame(_ids(3), torch.zeros(4))
    with pytest.raises(ValueError, match="truncate_time must be >= 0"):
        lib.sample_times(_ids(3), truncate_time=-1.0)
    with pytest.raises(FileNotFoundError, match="motion file not found: .*none.pkl$"):
        MotionLib(str(tmp_path / "none.pkl"), character, min_fps=MIN_FPS)
    cases = {
        "empty.yaml": ("motions: []\n", "non-empty list"),
        "typo.yaml": (f"motions:\n  - {{file: {clip_file}, wieght: 1}}\n", r"unknown keys \['wieght'\]"),
        "neg.yaml": (f"motions:\n  - {{file: {clip_file}, weight: -1}}\n", "weight must be a finite number >= 0"),
        "zero.yaml": (f"motions:\n  - {{file: {clip_file}, weight: 0}}\n", "sum to zero"),
        "nofile.yaml": ("motions:\n  - {weight: 1}\n", "'file' key"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=message):
            load_motion_entries(str(tmp_path / name))
    (tmp_path / "missing.yaml").write_text("motions:\n  - {file: gone.pkl}\n")
    with pytest.raises(FileNotFoundError, match=r"missing.yaml: motion file not found: .*gone.pkl$"):
        MotionLib(str(tmp_path / "missing.yaml"), character, min_fps=MIN_FPS)


@needs_shared
def test_shared_clips_stay_consistent_between_frames(character, tmp_path):
    """Real mocap leaves the joint ranges and flips Euler branches; hinge angles between frames must still pose
    the body where the blended body states put it (a branch-crossing lerp would swing a limb through the body)."""
    torch.manual_seed(0)
    names = ["backflip", "spinkick", "cartwheel", "run", "kick"]
    dataset = "motions:\n" + "".join(f"  - {{file: {PKL_DIR}/humanoid_{n}.pkl, weight: 1}}\n" for n in names)
    (tmp_path / "shared.yaml").write_text(dataset)
    lib = MotionLib(str(tmp_path / "shared.yaml"), character, min_fps=MIN_FPS)
    ids = lib.sample_motions(20_000)
    ref = lib.calc_motion_frame(ids, lib.sample_times(ids))
    body_pos, _ = character.forward_kinematics_dof(ref.root_pos, ref.root_rot, ref.dof_pos)
    assert (body_pos - ref.body_pos).norm(dim=-1).max() < 0.06
    assert torch.isfinite(lib.frame_dof_vel).all()


@needs_shared
def test_nan_clip_in_a_dataset_is_rejected(character, tmp_path):
    (tmp_path / "d.yaml").write_text(f"motions:\n  - {{file: {PKL_DIR / 'humanoid_walk.pkl'}, weight: 1}}\n")
    with pytest.raises(MotionFormatError, match="non-finite"):
        MotionLib(str(tmp_path / "d.yaml"), character, min_fps=MIN_FPS)



def test_sampling_is_reproducible_under_torch_seed(lib):
    torch.manual_seed(3)
    first = lib.sample_times(lib.sample_motions(100))
    torch.manual_seed(3)
    torch.testing.assert_close(lib.sample_times(lib.sample_motions(100)), first)


def test_root_and_dof_state_without_bodies_matches_the_full_query(lib):
    ids = lib.sample_motions(500)
    times = lib.sample_times(ids) * 2.5  # some past the end of the clip
    full, state = lib.calc_motion_frame(ids, times), lib.calc_motion_frame(ids, times, with_bodies=False)
    assert state.body_pos is None and state.body_rot is None
    for key in ("root_pos", "root_rot", "root_lin_vel", "root_ang_vel", "dof_pos", "dof_vel"):
        torch.testing.assert_close(getattr(state, key), getattr(full, key), rtol=0, atol=0)


# ---- errors that name what failed ----
@pytest.mark.parametrize(
    "text, position",
    [
        ("motions:\n\t- {file: a.pkl}\n", "line 2, column 1"),  # a tab
        ("motions:\n  - {file: a.pkl, weight: 1\n  - {file: b.pkl}\n", "line 3, column 5"),  # an unclosed brace
        ("motions: [{file: a.pkl}\n", "line 2, column 1"),  # an unclosed bracket
    ],
    ids=["tab", "unclosed brace", "unclosed bracket"],
)
def test_broken_dataset_yaml_names_the_file_and_the_position(character, tmp_path, text, position):
    (tmp_path / "broken.yaml").write_text(text)
    with pytest.raises(ValueError, match=rf"(?s)broken.yaml: not a valid dataset YAML: .*{position}"):
        MotionLib(str(tmp_path / "broken.yaml"), character, min_fps=MIN_FPS)


def test_missing_converted_clip_is_named_once_and_says_make_data(character):
    clip = "data/motions/humanoid/humanoid_nope.pkl"  # as conf/motion/*.yaml write it
    with pytest.raises(FileNotFoundError, match=rf"^motion file not found: {clip}; run `make data`") as info:
        MotionLib(clip, character, min_fps=MIN_FPS)
    assert str(info.value).count("humanoid_nope.pkl") == 1


def test_dataset_entry_with_a_missing_clip_names_the_dataset_and_the_clip(character, tmp_path):
    clip = CONVERTED_DIR / "humanoid_nope.pkl"
    (tmp_path / "set.yaml").write_text(f"motions:\n  - {{file: {clip}}}\n")
    with pytest.raises(FileNotFoundError, match=rf"set.yaml: motion file not found: {clip}; run `make data`"):
        MotionLib(str(tmp_path / "set.yaml"), character, min_fps=MIN_FPS)


# ---- implausible clips are refused ----
def _edited_clip(clip_file, path, edit, fps=None):
    """A copy of `clip_file` with `edit(frames)` applied in place (float64 frames), pickled as is (NaNs too)."""
    motion = load_motion(clip_file)
    frames = motion.frames.astype("float64")
    edit(frames)
    path.write_bytes(pickle.dumps({"loop_mode": int(motion.loop_mode), "fps": fps or motion.fps, "frames": frames}))
    return str(path)


def _joint_column(character, body):
    return next(6 + j.dof_start for j in character.joints if j.body == body)


def test_root_jump_is_refused(character, clip_file, tmp_path):
    def jump(frames):
        frames[12:, 0] += 1e6

    clip = _edited_clip(clip_file, tmp_path / "jump.pkl", jump)
    with pytest.raises(MotionFormatError, match=r"jump.pkl: root position 1e\+06 m at frame 12 exceeds 100 m"):
        MotionLib(clip, character, min_fps=MIN_FPS)


def test_root_teleport_is_refused_by_its_speed(character, clip_file, tmp_path):
    def teleport(frames):
        frames[30:, 1] += 5.0  # 5 m in one 60 fps frame

    clip = _edited_clip(clip_file, tmp_path / "teleport.pkl", teleport)
    with pytest.raises(MotionFormatError, match=r"teleport.pkl: root speed (29\d|30\d) m/s at frame 30 exceeds 25 m/s"):
        MotionLib(clip, character, min_fps=MIN_FPS)


def test_nan_frame_is_refused(character, clip_file, tmp_path):
    def nan(frames):
        frames[7, 9] = float("nan")

    clip = _edited_clip(clip_file, tmp_path / "nan.pkl", nan)
    with pytest.raises(MotionFormatError, match=r"nan.pkl: non-finite .*first: nan at frame 7, column 9"):
        MotionLib(clip, character, min_fps=MIN_FPS)


def test_spinning_hinge_is_refused(character, clip_file, tmp_path):
    col = _joint_column(character, "right_lower_arm")

    def spin(frames):
        frames[20:, col] += 10.0 * torch.arange(1, len(frames) - 19).numpy()  # 10 rad per frame: 600 rad/s

    clip = _edited_clip(clip_file, tmp_path / "spin.pkl", spin)
    message = r"spin.pkl: right_lower_arm joint angular speed (59\d|60\d) rad/s at frame 20 exceeds 200 rad/s"
    with pytest.raises(MotionFormatError, match=message):
        MotionLib(clip, character, min_fps=MIN_FPS)


def test_spinning_ball_joint_is_refused(character, clip_file, tmp_path):
    """2 rad per frame at 120 fps: a rotation-aware step sees at most pi per frame, so it takes a fast clip."""
    col = _joint_column(character, "right_upper_arm")
    assert MAX_JOINT_ANG_SPEED < 2.0 * 120

    def spin(frames):
        angle = 2.0 * torch.arange(len(frames), dtype=torch.float64)
        axis = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(len(frames), 3)
        frames[:, col : col + 3] = rot.quat_to_exp_map(rot.quat_from_axis_angle(axis, angle)).numpy()

    clip = _edited_clip(clip_file, tmp_path / "ball.pkl", spin, fps=120.0)
    with pytest.raises(MotionFormatError, match=r"ball.pkl: right_upper_arm joint angular speed 240 rad/s at frame 1"):
        MotionLib(clip, character, min_fps=MIN_FPS)


def test_exp_maps_wrapping_at_pi_are_not_jumps(character, clip_file, tmp_path):
    """The root and a shoulder turn slowly through pi: their exp maps flip sign (a 2 pi step in the values), the
    rotation barely moves."""
    shoulder = _joint_column(character, "right_upper_arm")

    def turn(frames):
        angle = math.pi - 0.3 + 0.01 * torch.arange(len(frames), dtype=torch.float64)
        axis = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(len(frames), 3)
        exp_map = rot.quat_to_exp_map(rot.quat_from_axis_angle(axis, angle)).numpy()
        assert abs(exp_map[1:, 2] - exp_map[:-1, 2]).max() > 6.0
        frames[:, 3:6] = frames[:, shoulder : shoulder + 3] = exp_map

    assert MotionLib(_edited_clip(clip_file, tmp_path / "turn.pkl", turn), character, min_fps=MIN_FPS).num_motions == 1


@pytest.mark.skipif(not CONVERTED_DIR.is_dir(), reason=f"no converted clips at {CONVERTED_DIR} (`make data`)")
def test_every_converted_clip_loads(character, tmp_path):
    clips = sorted(CONVERTED_DIR.glob("*.pkl"))
    (tmp_path / "all.yaml").write_text("motions:\n" + "".join(f"  - {{file: {c}}}\n" for c in clips))
    assert MotionLib(str(tmp_path / "all.yaml"), character, min_fps=MIN_FPS).num_motions == len(clips) > 0
