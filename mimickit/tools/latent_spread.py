"""Do different ASE latents give measurably different motions? Roll a trained ASE low-level policy out with many
fixed latents and compare how much the motion statistics vary between latents with how much they vary within one.

    python -m mimickit.tools.latent_spread model_file=outputs/ase/model.pt [num_latents=16] [envs_per_latent=8]
        [steps=300] [settle=30] [start=random] [seed=0] [output=<checkpoint dir>/latent_spread.json] [KEY=VALUE ...]

The checkpoint's env is rebuilt as `mode=test` rebuilds it (its run's saved config.yaml, command-line keys on top;
`mimickit.resume.checkpoint_config`) on the engine that config names (`sim=mjwarp device=cuda` on a GPU, `sim=mujoco`
on the CPU), with num_latents x envs_per_latent envs stepped as one batch and no domain randomisation; the policy
is `mimickit.agents.ase.load_low_level_policy`, whose deterministic action is used. `num_latents` unit latents are
drawn with `seed`; env i holds latent i // envs_per_latent for the whole rollout (never resampled). Other KEY=VALUE
arguments are config overrides, as for `mimickit.run`.

Starts (`start=`):
- `random` (default): each env starts as the env's own resets do (a random clip frame, or with
  `env.default_reset_prob` the standing pose), drawn independently. Start-to-start differences then make the
  spread within one latent, and a latent that changes nothing gives an F ratio near 1.
- `default`: every env starts standing in the default pose at rest. Physics and actions being deterministic, the
  envs of one latent then move identically, the spread within a latent is ~0 and F is meaningless (infinite);
  compare the latents by `between_std`, the spread of their mean features in the features' units.

Recorded per env over the steps after `settle` (and before the episode ends, if it ends): the mean and the standard
deviation over time of the root's planar velocity in its heading frame (m/s; forward, left), its ground speed,
its yaw rate (rad/s), its height (m) and the joint positions (`dof_pos`, rad), and when a fall ended the episode
(the episode length is set to outlast `steps`, so no time-out interferes). Per feature group, a one-way analysis of
variance across the latents (`spread_statistics`): F = between-latent mean square / within-latent mean square
(F >> 1: the latent changes the motion; F ~ 1: it is ignored), eta^2 = the share of the variance the latent
explains (about (L - 1) / (N - 1) by chance alone, for L latents and N envs), and the two spreads as standard
deviations. Survival is the share of envs whose episode did not end.
Prints a table; writes the numbers, the latents and the per-latent means to the JSON `output`.
"""
from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import open_dict

from mimickit import run as run_module
from mimickit.agents.ase import LowLevelPolicy, load_low_level_policy
from mimickit.agents.ase_losses import sample_latents
from mimickit.anim import rotations as rot
from mimickit.config import validate_run, validate_target
from mimickit.envs.ase_env import ASEEnv
from mimickit.envs.base_env import DoneFlags
from mimickit.tools.cli import compose_checkpoint_config, split_tool_args, write_summary
from mimickit.utils.seeding import seed_everything

log = logging.getLogger(__name__)

# the tool's keys and their defaults (None: required, or derived from the others)
ARGS = {"model_file": None, "num_latents": "16", "envs_per_latent": "8", "steps": "300", "settle": "30",
        "start": "random", "seed": "0", "output": None}
STARTS = ("random", "default")
NIL_SPREAD = 1e-9  # a within-latent mean square this small next to the between-latent one is rounding noise
BUILT_GROUPS = ("sim", "motion", "env", "randomization")
# the feature groups `step_features` records at each control step
STEP_GROUPS = ("planar_velocity", "speed", "yaw_rate", "root_height", "dof_pos")


@dataclass
class Rollout:
    """Per env (N = num_latents x envs_per_latent): its latent's index, the latent it held, each feature group's
    mean and std over the recorded steps, how many steps were recorded and the step its episode ended at."""

    latent_ids: torch.Tensor  # (N,) long
    latents: torch.Tensor  # (N, latent_dim), the buffer the policy was given at every step
    means: dict[str, torch.Tensor]  # group -> (N, size)
    stds: dict[str, torch.Tensor]  # group -> (N, size)
    recorded: torch.Tensor  # (N,) steps after `settle` before the end
    end_step: torch.Tensor  # (N,) control step at which a fall (or a blow-up) ended the episode; `steps` if none


# ---- building ----
def build_env(model_file: str, num_envs: int, steps: int, start: str, overrides: Sequence[str] = (),
              tool: str = "latent_spread") -> ASEEnv:
    """The checkpoint's env as mode=test builds it, on the engine its config names, with `num_envs` envs, no domain
    randomisation, episodes that outlast `steps` and, for start=default, every reset in the default pose. `tool`
    names the caller in Hydra's job and in the error for a checkpoint that is not ASE's."""
    forced = {"mode": "test", "num_envs": str(num_envs), "devices": "null", "randomization": "none"}
    cfg, _ = compose_checkpoint_config(model_file, overrides, forced, tool)
    with open_dict(cfg):
        cfg.env.episode_length = (steps + 1) / cfg.sim.control_freq
        if start == "default":
            cfg.env.default_reset_prob = 1.0
    if not issubclass(get_class(cfg.env._target_), ASEEnv):
        raise ValueError(f"{tool} measures ASE low-level policies (env=ase); this checkpoint's env is "
                         f"{cfg.env._target_}")
    validate_run(cfg)
    for group in BUILT_GROUPS:
        validate_target(cfg[group], group)
    return run_module.build_env(cfg)


# ---- rollout ----
def step_features(env: ASEEnv) -> dict[str, torch.Tensor]:
    """This step's feature groups, (N, size) each: the root's planar velocity in its heading frame, ground speed,
    yaw rate and height, and the joint positions."""
    e = env.engine
    vel = rot.quat_rotate(rot.heading_quat_inv(e.root_rot()), e.root_lin_vel())[:, :2]
    return {
        "planar_velocity": vel,
        "speed": vel.norm(dim=-1, keepdim=True),
        "yaw_rate": e.root_ang_vel()[:, 2:3],
        "root_height": e.root_pos()[:, 2:3],
        "dof_pos": e.dof_pos(),
    }


@torch.no_grad()
def rollout(env: ASEEnv, policy: LowLevelPolicy, latents: torch.Tensor, envs_per_latent: int, steps: int,
            settle: int) -> Rollout:
    """Reset every env, then `steps` deterministic actions with each env's latent held fixed; accumulates the
    features of steps settle+1 .. steps on the device (no per-step host sync) until each env's episode ends."""
    n = env.num_envs
    latent_ids = torch.arange(n, device=env.device) // envs_per_latent
    held = latents.to(env.device)[latent_ids]
    obs = env.reset()
    alive = torch.ones(n, dtype=torch.bool, device=env.device)
    end_step = torch.full((n,), steps, dtype=torch.long, device=env.device)
    count = torch.zeros(n, dtype=torch.float64, device=env.device)
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    for t in range(1, steps + 1):
        obs, _, done, _ = env.step(policy(obs, held))
        ended = alive & (done != DoneFlags.NULL)
        end_step = torch.where(ended, t, end_step)
        alive &= ~ended
        if t <= settle:
            continue
        w = alive.double().unsqueeze(-1)
        count += alive
        for name, x in step_features(env).items():
            x = x.double()
            sums[name] = sums.get(name, 0.0) + w * x
            squares[name] = squares.get(name, 0.0) + w * x * x
    c = count.clamp(min=1).unsqueeze(-1)
    means = {k: s / c for k, s in sums.items()}
    stds = {k: (squares[k] / c - means[k] ** 2).clamp(min=0).sqrt() for k in sums}
    return Rollout(latent_ids, held, means, stds, count.long(), end_step)


# ---- statistics ----
def spread_statistics(features: np.ndarray, latent_ids: np.ndarray) -> dict[str, float | int | None]:
    """One-way analysis of variance of (N, k) features grouped by latent, summed over the k components.

    F = (SS_between / (L - 1)) / (SS_within / (N - L)), with SS_between = sum_l n_l |m_l - m|^2 and SS_within =
    sum |x - m_l|^2: near 1 when the latent does not change the features (the between-latent scatter of the means is
    then just the within-latent scatter over n_l), large when it does. eta^2 = SS_between / (SS_between +
    SS_within), the share of the variance the latent explains. between_std / within_std are the standard deviation
    of the per-latent means and within one latent, root-mean-square over the components, in the features' units.
    None where undefined: fewer than two latents or no within-latent degrees of freedom, and F when the
    within-latent spread is nil (below NIL_SPREAD of the between-latent one: identical starts, start=default)."""
    ids, inverse, sizes = np.unique(latent_ids, return_inverse=True, return_counts=True)
    num, num_latents, k = len(features), len(ids), features.shape[1]
    group_means = np.zeros((num_latents, k))
    np.add.at(group_means, inverse, features)
    group_means /= sizes[:, None]
    ss_between = float((sizes[:, None] * (group_means - features.mean(axis=0)) ** 2).sum())
    ss_within = float(((features - group_means[inverse]) ** 2).sum())
    df_between, df_within = num_latents - 1, num - num_latents
    if df_between < 1 or df_within < 1:
        return {"F": None, "eta2": None, "between_std": None, "within_std": None, "latents": num_latents, "envs": num}
    ms_between, ms_within = ss_between / df_between, ss_within / df_within
    total = ss_between + ss_within
    return {
        "F": ms_between / ms_within if ms_within > NIL_SPREAD * ms_between else None,
        "eta2": ss_between / total if total > 0 else None,
        "between_std": math.sqrt(float(group_means.var(axis=0, ddof=1).sum()) / k),
        "within_std": math.sqrt(ms_within / k),
        "latents": num_latents,
        "envs": num,
    }


def summarise(result: Rollout, steps: int) -> dict[str, Any]:
    """The statistics of every feature group (its mean over time, and `<group>_std`: its std over time) over the
    envs that recorded at least one step, the survival, and each latent's mean of the root features."""
    kept = (result.recorded > 0).cpu().numpy()
    ids = result.latent_ids.cpu().numpy()
    groups = {}
    for name in STEP_GROUPS:
        for suffix, values in (("", result.means[name]), ("_std", result.stds[name])):
            stats = spread_statistics(values.cpu().numpy()[kept], ids[kept])
            groups[name + suffix] = {"size": values.shape[1], **stats}
    num_latents = int(ids.max()) + 1
    survived = (result.end_step == steps).cpu().numpy()
    per_latent = {"survival": [float(survived[ids == i].mean()) for i in range(num_latents)]}
    for name in ("speed", "yaw_rate", "root_height"):
        values = result.means[name][:, 0].cpu().numpy()
        per_latent[name] = [float(values[(ids == i) & kept].mean()) if ((ids == i) & kept).any() else None
                            for i in range(num_latents)]
    end = result.end_step.cpu().numpy()
    return {
        "groups": groups,
        "survival": {"fraction": float(survived.mean()), "mean_end_step": float(end.mean()),
                     "envs_without_samples": int((~kept).sum())},
        "per_latent": per_latent,
    }


def format_table(summary: dict[str, Any]) -> str:
    """One line per feature group (n/a: undefined, see `spread_statistics`), then the survival."""
    def num(x: float | None, width: int, fmt: str) -> str:
        return f"{'n/a' if x is None else format(x, fmt):>{width}}"

    lines = [f"{'features':<22}{'size':>5}{'F':>10}{'eta2':>7}{'between_std':>13}{'within_std':>12}"]
    for name, g in summary["groups"].items():
        lines.append(f"{name:<22}{g['size']:>5}{num(g['F'], 10, '.3g')}{num(g['eta2'], 7, '.3f')}"
                     f"{num(g['between_std'], 13, '.4g')}{num(g['within_std'], 12, '.4g')}")
    s = summary["survival"]
    lines.append(f"survival: {s['fraction']:.1%} of envs without a fall (mean end step {s['mean_end_step']:.0f})")
    return "\n".join(lines)


# ---- CLI ----
def parse_args(argv: Sequence[str]) -> tuple[dict[str, str | None], list[str]]:
    """(the tool's keys with their defaults filled in; config overrides) of `KEY=VALUE` arguments."""
    tool, overrides = split_tool_args(argv, ARGS, __doc__)
    if tool["start"] not in STARTS:
        raise SystemExit(f"start must be one of {STARTS}, got {tool['start']!r}")
    return tool, overrides


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    tool, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    model_file = str(tool["model_file"])
    num_latents, per_latent = int(tool["num_latents"]), int(tool["envs_per_latent"])
    steps, settle, seed = int(tool["steps"]), int(tool["settle"]), int(tool["seed"])
    if num_latents < 2 or per_latent < 1 or not 0 <= settle < steps:
        raise SystemExit("need num_latents >= 2, envs_per_latent >= 1 and 0 <= settle < steps")
    seed_everything(seed)
    env = build_env(model_file, num_latents * per_latent, steps, str(tool["start"]), overrides)
    policy = load_low_level_policy(model_file, env.device)
    latents = sample_latents(num_latents, policy.latent_dim, "cpu", torch.Generator().manual_seed(seed))
    result = rollout(env, policy, latents, per_latent, steps, settle)
    summary = {
        "model_file": str(Path(model_file).resolve()),
        "engine": type(env.engine).__name__,
        "device": str(env.device),
        "num_latents": num_latents, "envs_per_latent": per_latent, "steps": steps, "settle": settle,
        "control_dt": env.dt, "start": tool["start"], "seed": seed,
        **summarise(result, steps),
        "latents": latents.tolist(),
    }
    print(f"{num_latents} latents x {per_latent} envs, {steps} steps ({settle} settle), start={tool['start']}, "
          f"{summary['engine']} on {summary['device']}")
    print(format_table(summary))
    write_summary(tool["output"] or Path(model_file).resolve().parent / "latent_spread.json", summary)
    return summary


if __name__ == "__main__":
    main()
