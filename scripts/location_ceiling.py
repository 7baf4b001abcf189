"""The share of location targets a character can reach at a given walking speed: the ceiling of the location task's
`tar_reached` metric, from the task's own target distances, change times and episode length (conf/env/task_location.yaml).

    python scripts/location_ceiling.py --speeds 1.0 1.5 2.0

Each target is reached if the character, walking straight at the speed after `--turn` seconds spent turning, comes
within `reach_dist` before the target changes; a target still running at the episode's end counts only once reached
(as the metric counts it). Monte Carlo over `--episodes` episodes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

TASK_CONFIG = Path(__file__).resolve().parents[1] / "conf" / "env" / "task_location.yaml"


def reachable_share(speed: float, cfg: dict, turn: float, episodes: int, rng: np.random.Generator) -> float:
    reached = counted = 0
    for _ in range(episodes):
        t = 0.0
        while t < cfg["episode_length"]:
            duration = rng.uniform(cfg["tar_change_time_min"], cfg["tar_change_time_max"])
            dist = rng.uniform(cfg["tar_dist_min"], cfg["tar_dist_max"])
            arrival = t + turn + max(dist - cfg["reach_dist"], 0.0) / speed
            changed = t + duration < cfg["episode_length"]
            ok = arrival <= min(t + duration, cfg["episode_length"])
            counted += changed or ok
            reached += ok
            t += duration
    return reached / counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speeds", type=float, nargs="+", default=[1.0, 1.3, 1.5, 2.0], help="walking speeds (m/s)")
    parser.add_argument("--turn", type=float, default=0.7, help="seconds spent turning towards each new target")
    parser.add_argument("--episodes", type=int, default=20000)
    args = parser.parse_args()
    cfg = yaml.safe_load(TASK_CONFIG.read_text())
    rng = np.random.default_rng(0)
    for speed in args.speeds:
        print(f"{speed:.2f} m/s: {reachable_share(speed, cfg, args.turn, args.episodes, rng):.1%} of targets reachable")


if __name__ == "__main__":
    main()
