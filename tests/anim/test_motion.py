import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from mimickit.anim.motion import LoopMode, Motion, MotionFormatError, load_motion

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MIMICKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PKL_DIR = SHARED_DATA / "motions" / "mimickit_pkl" / "humanoid"
HUMANOID_FRAME_DIM = 34

needs_shared = pytest.mark.skipif(not PKL_DIR.is_dir(), reason=f"shared mocap data not found at {PKL_DIR}")


def _write_pickle(path: Path, obj) -> Path:
    path.write_bytes(pickle.dumps(obj))
    return path


def _clip_dict(num_frames=4, frame_dim=HUMANOID_FRAME_DIM, loop_mode=1, fps=30):
    rng = np.random.default_rng(0)
    return {"loop_mode": loop_mode, "fps": fps, "frames": rng.normal(size=(num_frames, frame_dim)).tolist()}


def test_save_load_round_trip_plain_types(tmp_path):
    frames = np.random.default_rng(1).normal(size=(5, HUMANOID_FRAME_DIM)).astype(np.float32)
    motion = Motion(fps=60, loop_mode=LoopMode.CLAMP, frames=frames)
    path = tmp_path / "sub" / "clip.pkl"
    motion.save(path)

    raw = pickle.loads(path.read_bytes())
    assert type(raw) is dict and type(raw["loop_mode"]) is int and type(raw["fps"]) is int
    assert type(raw["frames"]) is list and type(raw["frames"][0][0]) is float

    loaded = load_motion(path, frame_dim=HUMANOID_FRAME_DIM)
    assert loaded.loop_mode is LoopMode.CLAMP and loaded.fps == 60.0
    np.testing.assert_array_equal(loaded.frames, frames)
    assert loaded.frames.dtype == np.float32
    assert loaded.num_frames == 5 and loaded.duration == pytest.approx(4 / 60)
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp file left behind


def test_numpy_values_are_accepted(tmp_path):
    data = _clip_dict()
    data["frames"] = np.asarray(data["frames"])
    data["fps"] = np.float64(30.0)
    motion = load_motion(_write_pickle(tmp_path / "np.pkl", data))
    assert motion.num_frames == 4 and motion.fps == 30.0


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="^motion file not found: /nonexistent/clip.pkl$"):
        load_motion("/nonexistent/clip.pkl")


def test_missing_converted_clip_says_make_data():
    path = REPO_ROOT / "data" / "motions" / "humanoid" / "humanoid_nope.pkl"
    with pytest.raises(FileNotFoundError, match=rf"^motion file not found: {path}; run `make data`") as info:
        load_motion(path)
    assert str(info.value).count("humanoid_nope.pkl") == 1


def test_unreadable_file(tmp_path):
    path = tmp_path / "garbage.pkl"
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(MotionFormatError, match="not a readable motion pickle"):
        load_motion(path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_classes_are_refused(tmp_path):
    path = _write_pickle(tmp_path / "evil.pkl", {"loop_mode": 0, "fps": 30, "frames": _Evil()})
    with pytest.raises(MotionFormatError, match="refusing to unpickle"):
        load_motion(path)


def test_missing_keys(tmp_path):
    data = _clip_dict()
    del data["fps"]
    with pytest.raises(MotionFormatError, match=r"missing keys \['fps'\]"):
        load_motion(_write_pickle(tmp_path / "c.pkl", data))


def test_wrong_frame_dim_names_the_layout(tmp_path):
    path = _write_pickle(tmp_path / "c.pkl", _clip_dict(frame_dim=37))
    with pytest.raises(MotionFormatError, match=r"clip has 37 values per frame, the character expects 34 = 3 \+ 3 \+ 28 dofs"):
        load_motion(path, frame_dim=HUMANOID_FRAME_DIM)


def test_non_finite_values_name_frames_and_columns(tmp_path):
    data = _clip_dict(num_frames=6)
    data["frames"][2][9] = float("nan")
    data["frames"][4][11] = float("inf")
    message = r"2 of 6 frames \(frames \[2, 4\]\), columns \[9, 11\]; first: nan at frame 2, column 9"
    with pytest.raises(MotionFormatError, match=message):
        load_motion(_write_pickle(tmp_path / "c.pkl", data))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"frames": [[0.0] * 34]}, "at least 2 frames"),
        ({"loop_mode": 2}, "unknown loop mode 2"),
        ({"loop_mode": "wrap"}, "loop_mode must be a number"),
        ({"fps": 0}, "fps must be a positive"),
        ({"frames": [[0.0] * 34, [0.0] * 33]}, "ragged"),
        ({"frames": [0.0] * 34}, "2-D"),
    ],
)
def test_invalid_fields(tmp_path, change, message):
    data = {**_clip_dict(), **change}
    with pytest.raises(MotionFormatError, match=message):
        load_motion(_write_pickle(tmp_path / "c.pkl", data))


def test_not_a_dict(tmp_path):
    with pytest.raises(MotionFormatError, match="expected a dict"):
        load_motion(_write_pickle(tmp_path / "c.pkl", [1, 2, 3]))


@needs_shared
def test_shared_walk_clip_with_nans_is_rejected():
    with pytest.raises(MotionFormatError, match=r"125 of 125 frames.*columns \[9, 10, 11\]"):
        load_motion(PKL_DIR / "humanoid_walk.pkl", frame_dim=HUMANOID_FRAME_DIM)


@needs_shared
def test_every_other_shared_clip_loads():
    paths = sorted(p for p in PKL_DIR.glob("*.pkl") if p.name != "humanoid_walk.pkl")
    assert len(paths) >= 19
    for path in paths:
        motion = load_motion(path, frame_dim=HUMANOID_FRAME_DIM)
        assert motion.num_frames >= 2 and motion.duration > 0
        assert motion.loop_mode in (LoopMode.CLAMP, LoopMode.WRAP)
