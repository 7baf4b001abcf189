"""Which parts of the motion does an ADD discriminator judge? Roll a trained ADD policy out and split the
discriminator's logit over the parts of its observation (root position, root rotation, joint rotations, body
positions, root velocities, DoF velocities; `ADDEnv.disc_obs_parts`).

On run, ADD's world-frame tracking error was mostly the root running 13 cm above the reference, while ~90 % of the
discriminator's logit came from joint rotations, body positions and DoF velocities: that is why `env.world_body_pos`
exists (docs/adversarial.md, "Seventh device session"). This tool measures that split.

    python -m mimickit.tools.disc_attribution model_file=outputs/add/model.pt [num_envs=32] [steps=300]
        [ig_steps=32] [seed=0] [output=<file>.json] [KEY=VALUE ...]

The checkpoint's env and agent are rebuilt as `mode=test` rebuilds them (its run's saved config.yaml, command-line
keys on top; `mimickit.resume.checkpoint_config`), on the CPU engine unless the command line picks another
(`sim=mujoco device=cpu` by default; `sim=mjwarp device=cuda` on a GPU), with no domain randomisation. Other
KEY=VALUE arguments are config overrides, as for `mimickit.run`. Only ADD checkpoints (env=add, algo=add) are
accepted.

`num_envs` envs take `steps` deterministic actions from the env's own starts (`seed`), resetting ended episodes.
Every step's difference d = disc_obs_demo - disc_obs (the agent's `negative_sample`) is recorded; over all of them:
- per part, mean |d| raw and after the agent's `DiffNormalizer` (what the discriminator sees; the agent's
  `rollout_disc_stats`, logged in training as add/diff_<part>, add/scaled_diff_<part>);
- per part, its share of the logit gap logit(0) - logit(d) (0, the zero difference, is ADD's positive sample), by
  integrated gradients along the straight path from 0 to d (`ig_steps` midpoint Riemann steps), summed over the
  samples and divided by the summed gap. The shares sum to 1 up to the integration error, reported as the
  completeness residual (1 - the sum of the shares; and per sample, |gap - sum of its attributions| in logits);
- the mean logit, style reward (the agent's reward of the logit), `episode/tracking_error` (world frame) and
  `episode/mpjpe` (root-relative) of the rollout.
Prints a table; writes the numbers to the JSON `output` when given.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class

from mimickit.agents.add import ADDAgent
from mimickit.agents.disc_losses import compute_disc_reward
from mimickit.envs.add_env import ADDEnv
from mimickit.tools.cli import (
    build_checkpoint_agent,
    compose_checkpoint_config,
    split_tool_args,
    write_summary,
)
from mimickit.utils.checkpoint import is_policy_file, load_checkpoint
from mimickit.utils.seeding import seed_everything

log = logging.getLogger(__name__)

# the tool's keys and their defaults (None: required, or not written)
ARGS = {"model_file": None, "num_envs": "32", "steps": "300", "ig_steps": "32", "seed": "0", "output": None}
ENGINE = {"sim": "mujoco", "device": "cpu"}  # unless the command line picks another engine
INFO_KEYS = ("episode/tracking_error", "episode/mpjpe")  # the env's step info averaged over the rollout
IG_ROWS = 16384  # samples x ig_steps per integrated-gradients batch
# the normaliser scales the training samples to mean |d| = 1 per dimension: a part this far above it is seen in other
# frames than the discriminator learned (env.world_body_pos set otherwise than in training)
FOREIGN_SCALED_DIFF = 10.0


# ---- attribution (pure) ----
def integrated_gradients(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, D) attributions of fn(x) - fn(0) to the dimensions of the (B, D) inputs x: x * the mean gradient of fn
    at the midpoints (k + 1/2) / steps * x, k < steps (integrated gradients from the zero baseline, midpoint rule).
    fn maps (B, D) to (B,), each row from its own row. Per row the attributions sum to fn(x) - fn(0) up to the
    Riemann sum's error, O(1 / steps^2) for a smooth fn (completeness)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = x.detach()
    total = torch.zeros_like(x)
    with torch.enable_grad():
        for k in range(steps):
            point = ((k + 0.5) / steps * x).requires_grad_(True)
            (grad,) = torch.autograd.grad(fn(point).sum(), point)
            total += grad
    return x * total / steps


def part_shares(attr: torch.Tensor, parts: Mapping[str, torch.Tensor],
                total: torch.Tensor | float | None = None) -> dict[str, float]:
    """Each part's share of `total` (default: the sum of all attributions): the (B, D) attributions summed over the
    rows and the part's dimensions (`parts`: name -> indices), divided by `total`."""
    attr = attr.double()
    total = attr.sum() if total is None else total
    return {name: float(attr[:, index.to(attr.device)].sum() / total) for name, index in parts.items()}


# ---- building ----
def load_add(model_file: str, num_envs: int, overrides: Sequence[str] = ()) -> tuple[ADDEnv, ADDAgent]:
    """The checkpoint's env and agent as mode=test builds them (weights loaded, evaluation mode), with `num_envs`
    envs, no domain randomisation and the CPU engine unless `overrides` pick one. ValueError for a checkpoint that
    is not ADD's or a policy file (no discriminator)."""
    forced = {"mode": "test", "num_envs": str(num_envs), "devices": "null", "randomization": "none"}
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    engine = [f"{k}={v}" for k, v in ENGINE.items() if k not in given]
    cfg, _ = compose_checkpoint_config(model_file, [*engine, *overrides], forced, "disc_attribution")
    for group, base in (("env", ADDEnv), ("algo", ADDAgent)):
        if not issubclass(get_class(cfg[group]._target_), base):
            raise ValueError(f"disc_attribution explains ADD discriminators (env=add, algo=add); this checkpoint's "
                             f"{group} is {cfg[group]._target_}")
    if is_policy_file(load_checkpoint(model_file)):
        raise ValueError(f"{model_file!r} is a policy file (mimickit.tools.export_policy): it has no discriminator; "
                         "pass the run's full checkpoint")
    env, agent = build_checkpoint_agent(cfg, model_file)
    agent.set_training(False)
    return env, agent


# ---- rollout ----
@torch.no_grad()
def rollout(env: ADDEnv, agent: ADDAgent, steps: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Reset every env, then `steps` deterministic actions (ended episodes reset, as in test episodes). Returns the
    (steps x num_envs, disc_obs_dim) differences the agent's discriminator is given, and the mean of each of
    INFO_KEYS over all steps."""
    obs = env.reset()
    negatives, info_sums = [], dict.fromkeys(INFO_KEYS, 0.0)
    for _ in range(steps):
        obs, _, done, info = env.step(agent.policy_action(obs))
        negatives.append(agent.negative_sample(info))
        for key in INFO_KEYS:
            info_sums[key] = info_sums[key] + info[key].double().sum()
        obs = env.reset_done(done)
    count = steps * env.num_envs
    return torch.cat(negatives), {key: float(s) / count for key, s in info_sums.items()}


def attribute(agent: ADDAgent, negatives: torch.Tensor, ig_steps: int) -> dict[str, Any]:
    """The discriminator's view of the (B, D) differences: per part (the env's `disc_obs_parts`) the mean |d| raw
    and normalised and the share of the logit gap; the completeness residual; the mean logits and style reward."""
    parts = agent.env.disc_obs_parts

    def logit(d: torch.Tensor) -> torch.Tensor:
        return agent.discriminator(agent.disc_normalizer.normalize(d))

    with torch.no_grad():
        normalized = agent.disc_normalizer.normalize(negatives)
        logits = agent.discriminator(normalized)
        logit_zero = logit(torch.zeros_like(negatives[:1]))
        reward = compute_disc_reward(logits, agent.disc_reward_scale)
        stats = {k: float(v) for k, v in agent.rollout_disc_stats(negatives, normalized).items()}
    gap = (logit_zero - logits).double()  # (B,) what the attributions split
    chunk = max(1, IG_ROWS // ig_steps)
    attr = -torch.cat([integrated_gradients(logit, d, ig_steps) for d in negatives.split(chunk)]).double()
    shares = part_shares(attr, parts, gap.sum())
    return {
        "parts": {name: {"dims": len(index), "mean_abs_diff": stats[f"add/diff_{name}"],
                         "mean_abs_scaled_diff": stats[f"add/scaled_diff_{name}"], "share": shares[name]}
                  for name, index in parts.items()},
        "share_sum": sum(shares.values()),
        "completeness_residual": 1.0 - sum(shares.values()),
        "completeness_residual_logit": float((gap - attr.sum(dim=1)).abs().mean()),
        "logit_zero": float(logit_zero),
        "logit_mean": float(logits.mean()),
        "gap_mean": float(gap.mean()),
        "reward_mean": float(reward.mean()),
    }


def format_table(summary: dict[str, Any]) -> str:
    """One line per part, their sum, then the logits, the reward and the rollout's tracking errors."""
    lines = [f"{'part':<12}{'dims':>5}{'mean|d|':>10}{'scaled':>9}{'logit share':>13}"]
    for name, p in summary["parts"].items():
        lines.append(f"{name:<12}{p['dims']:>5}{p['mean_abs_diff']:>10.4g}{p['mean_abs_scaled_diff']:>9.3f}"
                     f"{p['share']:>13.1%}")
    dims = sum(p["dims"] for p in summary["parts"].values())
    lines.append(f"{'sum':<12}{dims:>5}{'':>19}{summary['share_sum']:>13.1%}")
    lines.append(f"completeness residual {summary['completeness_residual']:.2%} of the summed gap, "
                 f"{summary['completeness_residual_logit']:.3g} logit per sample ({summary['ig_steps']} IG steps)")
    lines.append(f"logit {summary['logit_zero']:.3f} at the zero difference, {summary['logit_mean']:.3f} mean "
                 f"(gap {summary['gap_mean']:.3f}); style reward {summary['reward_mean']:.4g}")
    lines.append(f"tracking error {summary['tracking_error']:.4f} m (world), mpjpe {summary['mpjpe']:.4f} m")
    return "\n".join(lines)


# ---- CLI ----
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    tool, overrides = split_tool_args(sys.argv[1:] if argv is None else argv, ARGS, __doc__)
    model_file = str(tool["model_file"])
    num_envs, steps, ig_steps, seed = (int(tool[k]) for k in ("num_envs", "steps", "ig_steps", "seed"))
    if min(num_envs, steps, ig_steps) < 1:
        raise SystemExit("need num_envs, steps and ig_steps >= 1")
    env, agent = load_add(model_file, num_envs, overrides)
    seed_everything(seed)  # after loading: the checkpoint's RNG states would replace it
    negatives, info = rollout(env, agent, steps)
    summary = {
        "model_file": str(Path(model_file).resolve()),
        "engine": type(env.engine).__name__,
        "device": str(env.device),
        "num_envs": num_envs, "steps": steps, "samples": len(negatives), "ig_steps": ig_steps, "seed": seed,
        **attribute(agent, negatives, ig_steps),
        "tracking_error": info["episode/tracking_error"],
        "mpjpe": info["episode/mpjpe"],
    }
    foreign = [n for n, p in summary["parts"].items() if p["mean_abs_scaled_diff"] > FOREIGN_SCALED_DIFF]
    if foreign:
        log.warning("normalised mean |d| of %s above %g (about 1 in training): the discriminator is given other inputs "
                    "than it was trained on (env.world_body_pos as in training?)", ", ".join(foreign),
                    FOREIGN_SCALED_DIFF)
    print(f"{num_envs} envs x {steps} steps, {summary['engine']} on {summary['device']}")
    print(format_table(summary))
    if tool["output"]:
        write_summary(tool["output"], summary)
    return summary


if __name__ == "__main__":
    main()
