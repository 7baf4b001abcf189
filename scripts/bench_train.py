"""End-to-end training throughput: samples/s and the split between simulation, policy inference and updates.

    python scripts/bench_train.py                                  # CPU engine, num_envs 16 and 64
    python scripts/bench_train.py --sim mjwarp --device cuda:0 --num-envs 1024 4096 16384
    python scripts/bench_train.py --methods deepmimic_humanoid_ppo amp_humanoid_locomotion add_humanoid_spinkick

Builds the same objects as `mimickit.run` from the same configs (any extra Hydra override may follow `--`),
trains a few warm-up iterations, then times `--iters` iterations.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from mimickit.config import register_configs
from mimickit.run import build_env, configure_torch, validate
from mimickit.utils.paths import CONF_DIR

SECTIONS = ("env", "policy", "storage", "update")


def bench(experiment: str, num_envs: int, args: argparse.Namespace) -> dict[str, float]:
    overrides = [
        f"experiment={experiment}",
        *([f"motion={args.motion}"] if args.motion else []),
        f"sim={args.sim}",
        f"num_envs={num_envs}",
        f"device={args.device}",
        "test_episodes=0",
        *args.overrides,
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    validate(cfg)
    configure_torch(cfg)
    env = build_env(cfg)
    with tempfile.TemporaryDirectory() as out_dir:
        agent = instantiate(cfg.algo, env=env, logger=None, out_dir=out_dir, device=cfg.device)
        return time_training(agent, args.warmup, args.iters)


def time_training(agent, warmup: int, iters: int) -> dict[str, float]:
    """samples/s over `iters` iterations after `warmup` ones, and each section's share of the time (env: simulation
    and the env's work; policy: inference; storage: rollout bookkeeping; update: returns and optimisation); on a GPU,
    the shares are of device time (see `SectionTimer`). Samples of every worker when the agent is distributed."""
    agent.train(max_iters=warmup)
    sums = dict.fromkeys(SECTIONS, 0.0)
    start = time.perf_counter()
    for _ in range(iters):
        stats = agent._train_iteration()
        for key in sums:
            sums[key] += stats[f"time/{key}_s"]
    if agent.device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    samples = iters * agent.storage.num_samples * agent.world_size
    return {"samples_per_s": samples / total, "total_s": total, **{k: v / total for k, v in sums.items()}}


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The run and timing options of the training benchmarks (this one and bench_distributed.py)."""
    parser.add_argument("--experiment", default="deepmimic_humanoid_ppo")
    parser.add_argument("--motion", help="motion group option (default: the experiment's own clip or dataset)")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed iterations first (the first run slow: allocations, the replay buffer filling)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. -- algo.steps_per_iter=16")


SHARES_HEADER = f"{'sim+env':>8} {'policy':>8} {'storage':>8} {'update':>8} {'other':>8}"


def format_shares(result: dict[str, float]) -> str:
    """Each section's share of the time from `time_training`, in the columns of SHARES_HEADER."""
    other = 1.0 - sum(result[k] for k in SECTIONS)
    return " ".join(f"{share:>8.1%}" for share in [*(result[k] for k in SECTIONS), other])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim", default="mujoco")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--methods", nargs="+", metavar="EXPERIMENT", help="presets to compare (default: --experiment)")
    add_training_arguments(parser)
    args = parser.parse_args()
    register_configs()

    print(f"{'experiment':<26} {'num_envs':>9} {'samples/s':>11} {SHARES_HEADER}")
    for experiment in args.methods or [args.experiment]:
        for num_envs in args.num_envs:
            r = bench(experiment, num_envs, args)
            print(f"{experiment:<26} {num_envs:>9} {r['samples_per_s']:>11,.0f} {format_shares(r)}", flush=True)


if __name__ == "__main__":
    main()
