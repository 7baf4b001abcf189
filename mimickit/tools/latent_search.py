"""How fast can a trained ASE low-level policy go? A search (the cross-entropy method) over fixed latents for the one
whose motion moves fastest forward: the speed a high-level controller (algo=ase_hlc) could at best ask of it by
holding one latent. Random latents say little about it (latent_spread: their means); a steering task asks for
1.0-3.5 m/s.

    python -m mimickit.tools.latent_search model_file=outputs/ase/model.pt [generations=30] [population=64]
        [envs_per_latent=2] [elites=6] [steps=150] [settle=30] [seed=0] [output=<checkpoint dir>/latent_search.json]
        [KEY=VALUE ...]

The env and the rollout are latent_spread's (`build_env`, `rollout`: the checkpoint's run config, episodes started as
the env's resets start them, each env's latent held for the whole rollout, deterministic actions); other KEY=VALUE
arguments are config overrides, as for `mimickit.run`. Each generation draws `population` raw latents from a normal
distribution (mean 0 and std 1 at first), scores each by its envs' mean forward speed (m/s, the root's velocity
along its heading over the steps after `settle`; an env whose episode ended scores 0), and refits the distribution to
the `elites` best (std floored at STD_FLOOR, so that it keeps searching). At the end the fitted mean's direction is
rolled out on population x envs_per_latent envs: its forward speed, ground speed, yaw rate and survival are the
result. Prints one line per generation; writes the history, the latent and its statistics to the JSON `output`.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mimickit.agents.ase import LowLevelPolicy, load_low_level_policy
from mimickit.envs.ase_env import ASEEnv
from mimickit.tools.cli import split_tool_args, write_summary
from mimickit.tools.latent_spread import build_env, rollout
from mimickit.utils.seeding import seed_everything

ARGS = {"model_file": None, "generations": "30", "population": "64", "envs_per_latent": "2", "elites": "6",
        "steps": "150", "settle": "30", "seed": "0", "output": None}
STD_FLOOR = 0.05  # the smallest std of the search distribution, per latent component


def cross_entropy_search(score: Callable[[torch.Tensor], torch.Tensor], dim: int, generations: int,
                         population: int, elites: int, generator: torch.Generator) -> tuple[torch.Tensor, list[dict]]:
    """Maximise `score` ((population, dim) unit latents -> (population,) scores) over unit latents; returns the
    fitted mean's direction and, per generation, the best, elite-mean and population-mean scores."""
    mean, std = torch.zeros(dim), torch.ones(dim)
    history = []
    for _ in range(generations):
        raw = mean + std * torch.randn(population, dim, generator=generator)
        scores = score(F.normalize(raw, dim=-1)).cpu()
        best = scores.argsort(descending=True)[:elites]
        mean, std = raw[best].mean(0), (raw[best].std(0) if elites > 1 else std).clamp(min=STD_FLOOR)
        history.append({"best": float(scores.max()), "elite_mean": float(scores[best].mean()),
                        "population_mean": float(scores.mean())})
    return F.normalize(mean, dim=0), history


def forward_speed_scores(env: ASEEnv, policy: LowLevelPolicy, envs_per_latent: int, steps: int,
                         settle: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The score of each latent: its envs' mean forward speed, 0 for an env whose episode ended."""
    def score(latents: torch.Tensor) -> torch.Tensor:
        result = rollout(env, policy, latents, envs_per_latent, steps, settle)
        forward = result.means["planar_velocity"][:, 0] * (result.end_step == steps)
        return forward.view(len(latents), envs_per_latent).mean(1)
    return score


def evaluate(env: ASEEnv, policy: LowLevelPolicy, latent: torch.Tensor, steps: int, settle: int) -> dict[str, float]:
    """One latent held by every env: means over the envs that recorded steps, and the share that did not fall."""
    result = rollout(env, policy, latent[None], env.num_envs, steps, settle)
    kept = result.recorded > 0
    survived = result.end_step == steps
    return {
        "forward_speed": float(result.means["planar_velocity"][kept, 0].mean()),
        "speed": float(result.means["speed"][kept, 0].mean()),
        "yaw_rate": float(result.means["yaw_rate"][kept, 0].mean()),
        "survival": float(survived.float().mean()),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    tool, overrides = split_tool_args(sys.argv[1:] if argv is None else argv, ARGS, __doc__)
    model_file = str(tool["model_file"])
    generations, population, per_latent, elites = (int(tool[k]) for k in
                                                   ("generations", "population", "envs_per_latent", "elites"))
    steps, settle, seed = int(tool["steps"]), int(tool["settle"]), int(tool["seed"])
    if generations < 1 or not 1 <= elites <= population or per_latent < 1 or not 0 <= settle < steps:
        raise SystemExit("need generations >= 1, 1 <= elites <= population, envs_per_latent >= 1 and "
                         "0 <= settle < steps")
    seed_everything(seed)
    env = build_env(model_file, population * per_latent, steps, "random", overrides, tool="latent_search")
    policy = load_low_level_policy(model_file, env.device)
    score = forward_speed_scores(env, policy, per_latent, steps, settle)
    latent, history = cross_entropy_search(score, policy.latent_dim, generations, population, elites,
                                           torch.Generator().manual_seed(seed))
    for i, h in enumerate(history):
        print(f"generation {i}: best {h['best']:.3f} m/s, elites {h['elite_mean']:.3f}, "
              f"population {h['population_mean']:.3f}")
    found = evaluate(env, policy, latent.to(env.device), steps, settle)
    print(f"the search's latent on {env.num_envs} envs: forward {found['forward_speed']:.3f} m/s, ground speed "
          f"{found['speed']:.3f} m/s, yaw rate {found['yaw_rate']:.3f} rad/s, survival {found['survival']:.1%}")
    summary = {"model_file": str(Path(model_file).resolve()), "engine": type(env.engine).__name__,
               "generations": generations, "population": population, "envs_per_latent": per_latent,
               "elites": elites, "steps": steps, "settle": settle, "seed": seed, "history": history,
               "latent": latent.tolist(), **found}
    write_summary(tool["output"] or Path(model_file).resolve().parent / "latent_search.json", summary)
    return summary


if __name__ == "__main__":
    main()
