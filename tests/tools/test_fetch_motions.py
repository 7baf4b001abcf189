"""scripts/fetch_motions.py against a local mirror (no network in tests)."""
import hashlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mimickit.anim.motion import LoopMode, load_motion
from mimickit.anim.rotations import exp_map_to_quat, heading_angle
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.tools.deepmimic_to_pkl import deepmimic_to_motion
from mimickit.utils.safe_pickle import restricted_loads

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MIMICKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
HUMANOID_MJCF = DEFAULT_HUMANOID_MJCF if DEFAULT_HUMANOID_MJCF.is_file() else SHARED_DATA / "humanoid" / "humanoid.xml"

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "motions").is_dir(), reason=f"shared data not found at {SHARED_DATA}")


@pytest.fixture(scope="module")
def fetch():
    spec = importlib.util.spec_from_file_location("fetch_motions", REPO_ROOT / "scripts" / "fetch_motions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_every_manifest_entry_matches_the_mirror(fetch):
    for clip in fetch.CLIPS:
        data = (SHARED_DATA / clip.mirror_path).read_bytes()
        assert fetch.git_blob_sha1(data) == clip.git_blob_sha1, clip.name
    assert len({c.name for c in fetch.CLIPS}) == len(fetch.CLIPS) == 27


def test_fetch_from_mirror_writes_clips_and_checksums(fetch, tmp_path):
    out = tmp_path / "motions"
    fetch.main(["--source", str(SHARED_DATA), "--out", str(out), "--mjcf", str(HUMANOID_MJCF), "--clips", "run,amp_run,kick"])
    names = sorted(p.name for p in out.glob("*.pkl"))
    assert names == ["humanoid_amp_run.pkl", "humanoid_kick.pkl", "humanoid_run.pkl"]

    run = load_motion(out / "humanoid_run.pkl", frame_dim=34)
    direct = deepmimic_to_motion(SHARED_DATA / "motions/deepmimic_txt/humanoid3d_run.txt", HUMANOID_MJCF)
    np.testing.assert_array_equal(run.frames, direct.frames)
    assert run.loop_mode == LoopMode.WRAP and load_motion(out / "humanoid_kick.pkl").loop_mode == LoopMode.CLAMP
    assert load_motion(out / "humanoid_amp_run.pkl", frame_dim=34).num_frames == 82

    lines = (out / "checksums.sha256").read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_mimickit_clip_is_copied_with_its_values_and_turns(fetch, tmp_path):
    """MimicKit's long walk is in this format already: the written clip holds the source's frames (read without
    running its pickle's code), and it turns, which the other locomotion clips do not (the task envs need it)."""
    out = tmp_path / "motions"
    fetch.main(["--source", str(SHARED_DATA), "--out", str(out), "--mjcf", str(HUMANOID_MJCF), "--clips", "long_walk"])
    clip = load_motion(out / "humanoid_long_walk.pkl", frame_dim=34)
    source = restricted_loads((SHARED_DATA / "motions/mimickit_pkl/humanoid/humanoid_long_walk0.pkl").read_bytes())
    np.testing.assert_allclose(clip.frames, np.asarray(source["frames"]), rtol=0, atol=1e-6)
    assert clip.fps == 120 and clip.loop_mode == LoopMode.CLAMP and clip.duration > 39
    yaw = np.unwrap(heading_angle(exp_map_to_quat(torch.as_tensor(clip.frames[:, 3:6]))).numpy())
    assert np.degrees(yaw.max() - yaw.min()) > 360


def test_tampered_source_is_rejected_before_writing(fetch, tmp_path):
    mirror = tmp_path / "mirror"
    for clip in ("humanoid3d_run.txt", "humanoid3d_walk.txt"):
        (mirror / "motions/deepmimic_txt").mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED_DATA / "motions/deepmimic_txt" / clip, mirror / "motions/deepmimic_txt" / clip)
    walk = mirror / "motions/deepmimic_txt/humanoid3d_walk.txt"
    walk.write_bytes(walk.read_bytes().replace(b"0.0333320000", b"0.0333330000", 1))
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="walk: .* has git blob SHA-1 .*expected 740688a1"):
        fetch.main(["--source", str(mirror), "--out", str(out), "--mjcf", str(HUMANOID_MJCF), "--clips", "run,walk"])
    assert not out.exists()
    with pytest.raises(SystemExit, match="jump: .* not found in the mirror"):
        fetch.main(["--source", str(mirror), "--out", str(out), "--mjcf", str(HUMANOID_MJCF), "--clips", "jump"])


def test_unknown_clip_name_lists_known_ones(fetch, tmp_path):
    with pytest.raises(SystemExit, match="unknown clips \\['moonwalk'\\].*'zombie_walk'"):
        fetch.main(["--source", str(SHARED_DATA), "--out", str(tmp_path), "--set", "deepmimic", "--clips", "moonwalk"])


def test_every_fetched_clip_has_a_motion_option(fetch):
    """`motion=<name>` exists for every clip `make data` converts, and names its file; the all-clips dataset
    lists every DeepMimic clip."""
    import yaml

    for clip in fetch.CLIPS:
        option = REPO_ROOT / "conf" / "motion" / f"{clip.name}.yaml"
        assert option.is_file(), f"no motion={clip.name}"
        assert yaml.safe_load(option.read_text())["motion_file"] == f"data/motions/humanoid/humanoid_{clip.name}.pkl"
    dataset = yaml.safe_load((REPO_ROOT / "data" / "datasets" / "humanoid_deepmimic_all.yaml").read_text())
    listed = {Path(entry["file"]).stem.removeprefix("humanoid_") for entry in dataset["motions"]}
    assert listed == {clip.name for clip in fetch.CLIPS if clip.kind == "deepmimic"}
