"""Multi-process speed-up on the CPU: training samples/s with 1 and with 2 workers at the same total num_envs.

    python scripts/bench_distributed.py                           # DeepMimic, 64 envs in total, 1 vs 2 workers
    python scripts/bench_distributed.py --num-envs 128 --workers 1 2 4 -- algo.steps_per_iter=16

Each configuration runs in workers built like `mimickit.run devices=[cpu,...]` builds them (its share of the envs
and of the cores: `sim.nthread=0` gives each of W workers cpu_count/W MuJoCo threads), trains `--warmup`
iterations, then times `--iters` iterations on rank 0. The load average is printed with every result: the
speed-up means little on a machine that other jobs share.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import tempfile

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from mimickit.config import register_configs
from mimickit.run import build_env, configure_torch, validate
from mimickit.utils import distributed
from mimickit.utils.paths import CONF_DIR
from mimickit.utils.seeding import seed_everything

from bench_train import SHARES_HEADER, add_training_arguments, format_shares, time_training  # scripts/ is on sys.path


def bench_worker(worker: distributed.Worker | None, cfg: DictConfig, warmup: int, iters: int) -> dict[str, float]:
    """Train `warmup` iterations, then time `iters`; samples/s over all workers and rank 0's time split."""
    group = distributed.process_group(worker) if worker is not None else contextlib.nullcontext()
    with group:
        if worker is not None:
            cfg = distributed.worker_config(cfg, worker)
        configure_torch(cfg)
        seed_everything(cfg.seed)
        env = build_env(cfg)
        with tempfile.TemporaryDirectory() as out_dir:
            agent = instantiate(cfg.algo, env=env, logger=None, out_dir=out_dir, device=cfg.device)
            return time_training(agent, warmup, iters)


def run_config(args: argparse.Namespace, num_workers: int) -> dict[str, float]:
    overrides = [f"experiment={args.experiment}", *([f"motion={args.motion}"] if args.motion else []), f"num_envs={args.num_envs}",
                 "sim.nthread=0", "test_episodes=0", *args.overrides]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    validate(cfg)
    if num_workers == 1:
        return bench_worker(None, cfg, args.warmup, args.iters)
    return distributed.launch(bench_worker, ["cpu"] * num_workers, "cpu", cfg, args.warmup, args.iters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=64, help="total over the workers")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    add_training_arguments(parser)
    args = parser.parse_args()
    register_configs()

    print(f"{os.cpu_count()} CPUs; {args.num_envs} envs in total; {args.iters} timed iterations")
    print(f"{'workers':>7} {'samples/s':>10} {'speed-up':>8} {SHARES_HEADER} {'load before':>11} {'load after':>10}")
    baseline = None
    for num_workers in args.workers:
        load_before = os.getloadavg()[0]
        r = run_config(args, num_workers)
        baseline = baseline or r["samples_per_s"]
        speed_up = r["samples_per_s"] / baseline
        print(f"{num_workers:>7} {r['samples_per_s']:>10,.0f} {speed_up:>7.2f}x {format_shares(r)} "
              f"{load_before:>11.2f} {os.getloadavg()[0]:>10.2f}", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
