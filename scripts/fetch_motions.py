"""Fetch public humanoid mocap clips and convert them into `data/motions/humanoid/humanoid_<name>.pkl`.

Sources, pinned to one commit each and checked against their git blob SHA-1 before anything is converted:
- `deepmimic`: the 20 `humanoid3d_*.txt` clips of xbpeng/DeepMimic (MIT) -> `humanoid_<name>.pkl`;
- `amp`: the 6 CMU-derived `amp_humanoid_*.npy` clips of isaac-sim/IsaacGymEnvs (BSD-3-Clause; CMU asks for an
  acknowledgement) -> `humanoid_amp_<name>.pkl`, CLAMP (the format has no loop flag);
- `mimickit`: MimicKit's 39 s turning walk `humanoid_long_walk0.pkl` (Apache-2.0, MimicKit's data archive as the
  zhoushanghai/MimicKit fork committed it) -> `humanoid_long_walk.pkl`: already this format and skeleton, validated
  and rewritten as plain lists (the locomotion clips above never turn more than 6 degrees).
The clips come from GitHub (raw URLs), or with `--source DIR` from a local mirror laid out like the project's shared
data folder (`motions/deepmimic_txt/`, `motions/poselib_npy/`, `motions/mimickit_pkl/humanoid/`). A `checksums.sha256`
of the written clips (`sha256sum -c` format) is written next to them. Fetched clips are not committed (`.gitignore`).

    python scripts/fetch_motions.py                          # from GitHub
    python scripts/fetch_motions.py --source ../shared/data  # from a local mirror (what `make data` runs)
    python scripts/fetch_motions.py --clips run,walk,amp_dance --out /tmp/motions
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import mujoco  # noqa: E402

from mimickit.anim.motion import Motion, motion_from_dict  # noqa: E402
from mimickit.tools import DEFAULT_HUMANOID_MJCF  # noqa: E402
from mimickit.tools.deepmimic_to_pkl import deepmimic_to_motion  # noqa: E402
from mimickit.tools.poselib_to_pkl import poselib_to_motion  # noqa: E402
from mimickit.utils.safe_pickle import restricted_loads  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "data" / "motions" / "humanoid"
CHECKSUM_FILE = "checksums.sha256"
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class ClipSource:
    name: str  # output is humanoid_<name>.pkl
    repo: str
    commit: str
    repo_path: str
    mirror_path: str  # path inside a local mirror (`--source`)
    git_blob_sha1: str
    kind: str  # "deepmimic", "amp" or "mimickit"

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.repo_path}"


DEEPMIMIC_COMMIT = "1f915c52fcd4b95b5f5f15b759ae91bd81e9a801"
IGE_COMMIT = "aeed298638a1f7b5421b38f5f3cc2d1079b6d9c3"
MIMICKIT_DATA_COMMIT = "d15c1268cfb1046702d430b74730a7fdcae60d14"  # zhoushanghai/MimicKit: MimicKit's data archive

_DEEPMIMIC_SHA1 = {
    "backflip": "42ea9a7c05cf5dd4e6b3b7c06775c96c9a885413",
    "cartwheel": "b59cfb09c85600fad6b72566fb9430d8aa1096eb",
    "crawl": "45a3191636b4f27ef8b0681dd6b77a320afc674b",
    "dance_a": "ab5a4dac0eda82e7e3a639ac3d72c6da4d6f3bf7",
    "dance_b": "d380b5ef346e25f40882f2a68994505c5b6090a5",
    "dance_spin": "5e6769695863a77c2ef84ced060e6f647bb97b3f",
    "getup_facedown": "b707e2ed96afa7c68cc07904201157fdad47303d",
    "getup_faceup": "43f83eff97a8256a53c7612c02181887c767b22c",
    "jog": "fddc7bade949d413bbc5fd017413d50cb733929d",
    "jump": "540f080c287ee76935e2533bb16f6da0d9781f3b",
    "kick": "44a8642eb4038c11f806a6909ffc5e08a5e5c0e5",
    "punch": "8f3fdcb710ca025ff1e7ace78f99531fbdd280fe",
    "roll": "1d0e78129218c65103ca73e597380b1d85a2276f",
    "run": "eb22f2f10af0fd97b46c8948854a48a383360be0",
    "sideflip": "8fc2b600dafd2f1d079c56661ce14e2284e1fb36",
    "spin": "0b6d61145c42b7055f670e484cee0ade6d80bfb6",
    "spinkick": "f8ebc265f233050b3c845228e23c376f5913a025",
    "stealthy_walk": "aa57c79779792517c7ad2c76c917fe2b8bdfc1b4",
    "walk": "740688a162e689e743487c20cd29319800f641c3",
    "zombie_walk": "75287bc21194594e6428e14e1d7119c4ed34f4c8",
}
_AMP_SHA1 = {
    "backflip": "f77d1e0543e7224c88c4194cbf22cb0fd5f7fd8b",
    "cartwheel": "59c1b3cf4ec6fb9db266084505349e81e4043af0",
    "dance": "980b388c154201164ae54398f6e44e477e6fd61d",
    "hop": "3526e286653f5146e5b6e9e704788cac5e1ef7df",
    "run": "89dfa33edb4ba8fb72b6a122e8acd2d9d73856b2",
    "walk": "3059e406d4820fba1ff6cb9b9574641afebaf62f",
}

CLIPS = tuple(
    ClipSource(
        name, "xbpeng/DeepMimic", DEEPMIMIC_COMMIT, f"data/motions/humanoid3d_{name}.txt",
        f"motions/deepmimic_txt/humanoid3d_{name}.txt", sha1, "deepmimic",
    )
    for name, sha1 in _DEEPMIMIC_SHA1.items()
) + tuple(
    ClipSource(
        f"amp_{name}", "isaac-sim/IsaacGymEnvs", IGE_COMMIT, f"assets/amp/motions/amp_humanoid_{name}.npy",
        f"motions/poselib_npy/amp_humanoid_{name}.npy", sha1, "amp",
    )
    for name, sha1 in _AMP_SHA1.items()
) + (
    ClipSource(
        "long_walk", "zhoushanghai/MimicKit", MIMICKIT_DATA_COMMIT,
        "data/motions/humanoid/long/humanoid_long_walk0.pkl", "motions/mimickit_pkl/humanoid/humanoid_long_walk0.pkl",
        "5427664cba63fb3270d45bfd45706a85529b3b34", "mimickit",
    ),
)  # fmt: skip


class SourceError(RuntimeError):
    """A source clip that is missing, unreachable or not the pinned version."""


def git_blob_sha1(data: bytes) -> str:
    """What `git hash-object` prints for a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read_source(clip: ClipSource, source_dir: Path | None) -> bytes:
    """The clip's bytes from the mirror or GitHub, verified against the pinned blob SHA-1."""
    if source_dir is not None:
        path = source_dir / clip.mirror_path
        if not path.is_file():
            raise SourceError(f"{clip.name}: {path} not found in the mirror")
        data, origin = path.read_bytes(), str(path)
    else:
        try:
            with urllib.request.urlopen(clip.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                data, origin = response.read(), clip.url
        except OSError as e:
            raise SourceError(f"{clip.name}: download of {clip.url} failed: {e}") from None
    sha1 = git_blob_sha1(data)
    if sha1 != clip.git_blob_sha1:
        raise SourceError(f"{clip.name}: {origin} has git blob SHA-1 {sha1}, expected {clip.git_blob_sha1}")
    return data


def convert_source(clip: ClipSource, data: bytes, mjcf: Path) -> Motion:
    if clip.kind == "mimickit":  # the target format already: checked against the character's frame size
        frame_dim = mujoco.MjModel.from_xml_path(str(mjcf)).nq - 1  # root position, exp map, hinge angles
        return motion_from_dict(restricted_loads(data), frame_dim=frame_dim, source=clip.url)
    suffix = ".txt" if clip.kind == "deepmimic" else ".npy"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"source{suffix}"
        path.write_bytes(data)
        return deepmimic_to_motion(path, mjcf) if clip.kind == "deepmimic" else poselib_to_motion(path, mjcf)


def select_clips(names: str | None, sets: str) -> list[ClipSource]:
    chosen = [c for c in CLIPS if sets == "all" or c.kind == sets]
    if names is None:
        return chosen
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {c.name: c for c in chosen}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown clips {unknown}; known ({sets}): {sorted(known)}")
    return [known[n] for n in wanted]


def write_checksums(out_dir: Path, files: list[Path]) -> Path:
    lines = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}\n" for f in sorted(files)]
    path = out_dir / CHECKSUM_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(path)
    return path


def fetch_motions(
    out_dir: Path, source_dir: Path | None = None, mjcf: Path = DEFAULT_HUMANOID_MJCF, clips: list[ClipSource] = CLIPS
) -> list[Path]:
    """Verify every source first (nothing is written if one is wrong), then convert and write the clips."""
    if source_dir is not None and not source_dir.is_dir():
        raise SourceError(f"mirror folder not found: {source_dir}")
    sources = [(clip, read_source(clip, source_dir)) for clip in clips]
    written = []
    for clip, data in sources:
        motion = convert_source(clip, data, mjcf)
        path = out_dir / f"humanoid_{clip.name}.pkl"
        motion.save(path)
        written.append(path)
        print(f"{path.name}: {motion.num_frames} frames, {motion.fps:g} fps, {motion.loop_mode.name}")
    write_checksums(out_dir, written)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None, help="local mirror folder instead of GitHub")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--mjcf", type=Path, default=DEFAULT_HUMANOID_MJCF, help="target humanoid MJCF")
    parser.add_argument("--set", dest="sets", choices=["all", "deepmimic", "amp", "mimickit"], default="all")
    parser.add_argument("--clips", default=None, help="comma-separated clip names (default: every clip of --set)")
    args = parser.parse_args(argv)
    try:
        written = fetch_motions(args.out, args.source, args.mjcf, select_clips(args.clips, args.sets))
    except SourceError as e:
        raise SystemExit(f"fetch_motions: {e}") from None
    print(f"{len(written)} clips and {CHECKSUM_FILE} in {args.out}")


if __name__ == "__main__":
    main()
