"""Time the motion library: sampling + `calc_motion_frame` for 1M queries on the CPU (root and DoF state, and
with every body's pose).

    python scripts/bench_motion.py                       # every clip in data/motions/humanoid (after `make data`)
    python scripts/bench_motion.py --motion-file data/datasets/humanoid_locomotion.yaml --batch 4096

Prints the best of `--repeats` runs, as one call of `--num-queries` queries and (with `--batch`) as consecutive
calls of `--batch` queries, the way an env asks. The last line times a plain row gather of the same bytes, to
tell a slow library from a slow or busy machine.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from mimickit.anim.kinematics import KinematicCharacter
from mimickit.anim.motion_lib import MotionLib
from mimickit.utils.paths import CONF_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_dataset(folder: Path) -> str:
    clips = sorted(folder.glob("*.pkl"))
    if not clips:
        raise SystemExit(f"no clips in {folder}: run `make data` or pass --motion-file")
    lines = "".join(f"  - {{file: {clip}, weight: 1.0}}\n" for clip in clips)
    dataset = Path(tempfile.mkdtemp()) / "bench_dataset.yaml"
    dataset.write_text("motions:\n" + lines)
    return str(dataset)


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def query(lib: MotionLib, n: int, batch: int, with_body_vel: bool) -> None:
    for _ in range(max(1, n // batch)):
        ids = lib.sample_motions(batch)
        lib.calc_motion_frame(ids, lib.sample_times(ids), with_body_vel=with_body_vel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--motion-file", default=None, help="clip or dataset YAML (default: data/motions/humanoid)")
    parser.add_argument("--mjcf", default=str(REPO_ROOT / "data/assets/humanoid/capsule_humanoid.xml"))
    parser.add_argument("--num-queries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=0, help="also time consecutive calls of this many queries")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (default: all cores)")
    parser.add_argument("--body-vel", action="store_true", help="also blend body velocities")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    motion_file = args.motion_file or default_dataset(REPO_ROOT / "data/motions/humanoid")
    start = time.perf_counter()
    min_fps = OmegaConf.load(CONF_DIR / "motion_library.yaml").min_fps  # the runs' upsampling
    lib = MotionLib(motion_file, KinematicCharacter(args.mjcf), min_fps=min_fps, device=args.device)
    print(
        f"loaded {lib.num_motions} clips, {lib.num_frames} frames ({lib.total_length:.1f} s) "
        f"in {time.perf_counter() - start:.2f} s; device {args.device}, {args.threads} thread(s)"
    )
    n = args.num_queries
    ids = lib.sample_motions(n)
    times = lib.sample_times(ids)
    sample = best_time(lambda: lib.sample_times(lib.sample_motions(n)), args.repeats)
    state = best_time(lambda: lib.calc_motion_frame(ids, times, with_bodies=False), args.repeats)
    calc = best_time(lambda: lib.calc_motion_frame(ids, times, with_body_vel=args.body_vel), args.repeats)
    print(f"sampling {n} (clip, time) queries: {sample:.3f} s")
    print(f"{n} queries, root + DoF state (reference state init): sample + calc_motion_frame {sample + state:.3f} s")
    print(f"{n} queries, with every body's pose (one call): sample + calc_motion_frame {sample + calc:.3f} s")
    if args.batch:
        batched = best_time(lambda: query(lib, n, args.batch, args.body_vel), args.repeats)
        print(f"{n} queries as calls of {args.batch}: {batched:.3f} s (sample + calc)")
    table = lib._query_table
    rows = torch.randint(0, table.shape[0], (n,), device=table.device)
    gather = best_time(lambda: table.index_select(0, rows), args.repeats)
    print(f"reference: gathering {n} table rows ({n * table.shape[1] * 4 / 1e9:.2f} GB) takes {gather:.3f} s")


if __name__ == "__main__":
    main()
