"""Which episodes make a test's means: a checkpoint's test episodes one by one, split by how they ended.

    python -m mimickit.tools.episode_breakdown model_file=outputs/run/model.pt [episodes=1024] [seed=0]
        [output=<checkpoint dir>/episode_breakdown.json] [KEY=VALUE ...]

`mode=test` reports means over episodes (with their standard errors); a few failed episodes can carry a mean. The
ASE steering controller's speed error of 0.29 m/s (2026-11-30) was 0.16 over the 95 % of its episodes that ran to
the time limit and 2.1 over the 5 % that fell, early, most after starting on two of the five clips. This
runs the same test (the checkpoint's run config with the command line's keys on top, as `mode=test` composes it;
one episode per env, `episodes` envs) and reports, for the return, the episode length and every "episode/*" metric
of the env: the mean over all episodes, over those that ran out of time and over those that failed, what the failed
ones add to the mean, and quantiles over all; for an env that starts episodes on clip frames, per clip the episodes
that started on it, the failed share and the mean return. Other KEY=VALUE arguments are config overrides
(`sim=mujoco device=cpu` tests a GPU run on the CPU).
Prints tables; writes the numbers to the JSON `output`.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mimickit import run as run_module
from mimickit.agents.agent import Agent
from mimickit.envs.base_env import DoneFlags
from mimickit.tools.cli import (
    build_checkpoint_agent,
    compose_checkpoint_config,
    split_tool_args,
    write_summary,
)
from mimickit.utils.seeding import seed_everything

ARGS = {"model_file": None, "episodes": "1024", "seed": "0", "output": None}
QUANTILES = (0.5, 0.9, 0.99)


def load_agent(model_file: str, num_envs: int, seed: int, overrides: Sequence[str]) -> tuple[Any, Agent]:
    """The checkpoint's env and agent as `mode=test` builds them, with `num_envs` envs, weights loaded."""
    forced = {"mode": "test", "num_envs": str(num_envs), "seed": str(seed), "devices": "null"}
    cfg, _ = compose_checkpoint_config(model_file, overrides, forced, "episode_breakdown")
    run_module.configure_torch(cfg)
    seed_everything(cfg.seed)
    return build_checkpoint_agent(cfg, model_file)


def breakdown(episodes: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Per statistic: mean over all, time-out and failed episodes, the failed episodes' share of the mean
    (`from_failed`: their sum over all episodes) and quantiles; plus the number of episodes and the failed share."""
    done = episodes["done"].cpu().numpy()
    failed = done == int(DoneFlags.FAIL)
    timed_out = done == int(DoneFlags.TIME)
    n = len(done)

    def mean(values: np.ndarray) -> float | None:
        return float(values.mean()) if len(values) else None

    stats = {}
    for key, tensor in episodes.items():
        if key in ("done", "env"):
            continue
        values = tensor.double().cpu().numpy()
        stats[key] = {
            "mean": mean(values), "timed_out": mean(values[timed_out]), "failed": mean(values[failed]),
            "from_failed": float(values[failed].sum() / n) if n else None,
            **{f"q{round(q * 100)}": float(np.quantile(values, q)) if n else None for q in QUANTILES},
        }
    return {"episodes": n, "failed_share": float(failed.mean()) if n else None, "stats": stats}


def by_start_clip(episodes: dict[str, torch.Tensor], start_clips: torch.Tensor, clip_names: list[str]) -> dict:
    """Per clip (`start_clips`: each env's clip index when its episode started), the episodes that started on
    it, their failed share and mean return; clips no episode started on are left out."""
    clips = start_clips.cpu()[episodes["env"].cpu()]
    failed = episodes["done"].cpu() == int(DoneFlags.FAIL)
    returns = episodes["return"].double().cpu()
    table = {}
    for index in clips.unique().tolist():
        mine = clips == index
        table[clip_names[index]] = {"episodes": int(mine.sum()), "failed_share": float(failed[mine].double().mean()),
                                    "return": float(returns[mine].mean())}
    return table


def format_table(result: dict[str, Any]) -> str:
    """One line per statistic (n/a: no such episode), then the failed share."""
    def num(x: float | None) -> str:
        return f"{'n/a' if x is None else format(x, '.4g'):>12}"

    columns = ("mean", "timed_out", "failed", "from_failed", *(f"q{round(q * 100)}" for q in QUANTILES))
    width = max(len(k) for k in result["stats"]) + 2
    lines = [f"{'statistic':<{width}}" + "".join(f"{c:>12}" for c in columns)]
    for key, row in result["stats"].items():
        lines.append(f"{key:<{width}}" + "".join(num(row[c]) for c in columns))
    lines.append(f"{result['episodes']} episodes, {result['failed_share']:.1%} failed")
    if "by_start_clip" in result:
        lines.append(f"{'start clip':<40}{'episodes':>10}{'failed':>10}{'return':>10}")
        for clip, row in sorted(result["by_start_clip"].items(), key=lambda item: -item[1]["failed_share"]):
            lines.append(f"{clip:<40}{row['episodes']:>10}{row['failed_share']:>10.1%}{row['return']:>10.4g}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    tool, overrides = split_tool_args(sys.argv[1:] if argv is None else argv, ARGS, __doc__)
    model_file, num_episodes, seed = str(tool["model_file"]), int(tool["episodes"]), int(tool["seed"])
    if num_episodes < 1:
        raise SystemExit("need episodes >= 1")
    env, agent = load_agent(model_file, num_episodes, seed, overrides)
    obs = agent.env.reset()
    start_clips = env.motion_ids.clone() if hasattr(env, "motion_ids") else None  # envs that start on clip frames
    episodes = agent.play_test_episodes(num_episodes, keep_episodes=True, obs=obs).episodes()
    result = {"model_file": str(Path(model_file).resolve()), "seed": seed, **breakdown(episodes)}
    if start_clips is not None:
        names = [Path(f).name for f in env.motion_lib.motion_files]
        result["by_start_clip"] = by_start_clip(episodes, start_clips, names)
    print(format_table(result))
    write_summary(tool["output"] or Path(model_file).resolve().parent / "episode_breakdown.json", result)
    return result


if __name__ == "__main__":
    main()
