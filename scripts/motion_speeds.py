"""Mean ground speed of the root in each clip of a motion config and over its weighted dataset: what an AMP
policy's `episode/root_speed` should approach.

    python scripts/motion_speeds.py amp_locomotion
"""
from __future__ import annotations

import argparse

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from mimickit.config import register_configs
from mimickit.utils.paths import CONF_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("motion", help="a conf/motion option")
    args = parser.parse_args()
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"motion={args.motion}"])
    lib = instantiate(cfg.motion, device="cpu")
    speeds = []
    for motion_id in range(lib.num_motions):
        ids = torch.full((200,), motion_id)
        times = torch.linspace(0.0, 1.0, 200) * lib.get_motion_length(ids)
        frame = lib.calc_motion_frame(ids, times, with_bodies=False)
        speeds.append(frame.root_lin_vel[:, :2].norm(dim=-1).mean())
        print(f"clip {motion_id}: {speeds[-1]:.2f} m/s")
    weights = lib.motion_weights / lib.motion_weights.sum()
    print(f"weighted mean: {float((torch.stack(speeds) * weights).sum()):.2f} m/s")


if __name__ == "__main__":
    main()
