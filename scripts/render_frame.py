"""Render one PNG of a motion clip played by `env=view_motion` (e.g. the README figure).

    python scripts/render_frame.py --time 0.6 --out kick.png motion=spinkick
    # the README figure: four envs a quarter second apart
    python scripts/render_frame.py --time 0.1 --out docs/images/humanoid_spinkick.png --width 800 --height 400 \
        motion=spinkick num_envs=4 env.time_offset=0.25 recorder.distance=5.5 recorder.spacing=1.3

Arguments after the options are Hydra overrides of `conf/config.yaml` (env=view_motion is implied).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import imageio
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from mimickit.envs.view_motion_env import ViewMotionEnv
from mimickit.run import build_env, validate
from mimickit.render.video import VideoRecorder

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def build_view_motion_env(overrides: list[str]) -> tuple[ViewMotionEnv, DictConfig]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["env=view_motion", *overrides])
    validate(cfg)
    return build_env(cfg), cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time", type=float, default=0.0, help="clip time (s) of the first env")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--width", type=int, default=None, help="image width (default: the env's recorder setting)")
    parser.add_argument("--height", type=int, default=None, help="image height")
    args, overrides = parser.parse_known_args()
    if args.time < 0:
        parser.error(f"--time must be >= 0, got {args.time}")

    env, cfg = build_view_motion_env(overrides)
    env.reset()
    for _ in range(round(args.time / env.dt)):
        env.step()
    settings = OmegaConf.to_container(cfg.recorder, resolve=True)
    settings.update({k: v for k, v in (("width", args.width), ("height", args.height)) if v is not None})
    with VideoRecorder(env.engine, env.shown_envs, **settings) as recorder:
        image = recorder.render()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}, t={env.num_steps * env.dt:.3f} s)")


if __name__ == "__main__":
    main()
