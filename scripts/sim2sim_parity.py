"""How closely sim2sim reproduces the training env: episodes of an exported policy played both ways from the same
clip times, beside the spread the training env itself shows when its actions are perturbed at float32 rounding.

    python scripts/sim2sim_parity.py model_file=outputs/walk/model.pt onnx=outputs/walk/model.onnx \
        [starts=0,0.5,1.0] [noise=1e-7] [noise_runs=3] [KEY=VALUE config overrides]

For each start time (s into the clip): the training env's deterministic episode (its CPU engine, one env, the torch
policy: what `mode=test` with `env.rand_reset=false` runs from 0), `noise_runs` more with N(0, noise) added to its
actions, and sim2sim's (numpy observation, ONNX policy, plain MuJoCo). Columns: episode lengths and mean tracking
errors (m); the step at which each episode's bodies first lie more than 1 mm from the env episode's ("apart at",
"-" if never); and the largest observation difference over an episode in which sim2sim's world is given the env's
PD targets (the observation's float32 rounding alone, no closed-loop drift). Numbers in docs/deployment.md.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from mimickit.tools.export_onnx import load_policy
from mimickit.tools.sim2sim import Sim2Sim

ARGS = {"model_file": None, "onnx": None, "starts": "0", "noise": "1e-7", "noise_runs": "3"}
APART = 1e-3  # m: trajectories this far apart (largest body distance) have separated


@torch.no_grad()
def env_episode(policy, start: float, noise: float, generator: torch.Generator) -> tuple[float, np.ndarray]:
    """Mean tracking error and body positions (steps, B, 3) of the env's episode from `start`."""
    env, agent = policy.env, policy.agent
    obs = env.reset_to(torch.zeros(1, dtype=torch.long), torch.full((1,), start))
    errors, bodies = [], []
    while True:
        action = agent.policy_action(obs)
        action = action + noise * torch.randn(action.shape, generator=generator)
        obs, _, done, info = env.step(action)
        errors.append(float(info["episode/tracking_error"][0]))
        bodies.append(env.engine.body_pos()[0].numpy().copy())
        if int(done[0]) != 0:
            return float(np.mean(errors)), np.array(bodies)


def sim2sim_episode(runner: Sim2Sim, start: float) -> tuple[float, np.ndarray]:
    bodies = []
    result = runner.run_episode(start, on_step=lambda r: bodies.append(r.sim.body_pos()))
    return result.tracking_error, np.array(bodies[1:])  # the callback also sees the reset state


def apart_at(a: np.ndarray, b: np.ndarray) -> str:
    """The first step (1-based) at which two body trajectories are more than APART apart, '-' if never."""
    n = min(len(a), len(b))
    far = np.flatnonzero(np.linalg.norm(a[:n] - b[:n], axis=-1).max(-1) > APART)
    return str(far[0] + 1) if far.size else "-"


@torch.no_grad()
def max_obs_diff(policy, runner: Sim2Sim, start: float) -> float:
    """The largest |sim2sim obs - env obs| over an episode of the env's policy, both worlds given the env's targets."""
    env, agent = policy.env, policy.agent
    obs = env.reset_to(torch.zeros(1, dtype=torch.long), torch.full((1,), start))
    largest = float(np.abs(runner.reset(start) - obs[0].numpy()).max())
    while True:
        action = agent.policy_action(obs)
        _, end = runner.step(env.actions_to_targets(action)[0].double().numpy())
        obs, _, done, _ = env.step(action)
        largest = max(largest, float(np.abs(runner.observe() - obs[0].numpy()).max()))
        if int(done[0]) != 0 or end is not None:
            return largest


def main(argv: list[str]) -> None:
    args, overrides = dict(ARGS), []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key in ARGS:
            args[key] = value
        else:
            overrides.append(arg)
    if not args["model_file"] or not args["onnx"]:
        raise SystemExit(__doc__)
    policy = load_policy(args["model_file"], ["env.rand_reset=false", *overrides])
    runner = Sim2Sim(args["onnx"])
    generator = torch.Generator().manual_seed(0)
    noise, runs = float(args["noise"]), int(args["noise_runs"])
    print(f"| start (s) | env: length, error (m) | env, actions + N(0, {noise:g}): lengths, errors, apart at | "
          "sim2sim: length, error, apart at | sim2sim - env | max obs diff, same targets |")
    print("|---|---|---|---|---|---|")
    totals = {"env": [], "perturbed": [], "sim2sim": []}
    for start in (float(s) for s in args["starts"].split(",")):
        error, bodies = env_episode(policy, start, 0.0, generator)
        perturbed = [env_episode(policy, start, noise, generator) for _ in range(runs)]
        s2s_error, s2s_bodies = sim2sim_episode(runner, start)
        totals["env"].append(error)
        totals["perturbed"].extend(e for e, _ in perturbed)
        totals["sim2sim"].append(s2s_error)
        lengths = ", ".join(str(len(b)) for _, b in perturbed)
        spread = f"{min(e for e, _ in perturbed):.4f}-{max(e for e, _ in perturbed):.4f}"
        apart = ", ".join(apart_at(bodies, b) for _, b in perturbed)
        print(f"| {start:g} | {len(bodies)}, {error:.4f} | {lengths}; {spread}; {apart} | {len(s2s_bodies)}, "
              f"{s2s_error:.4f}, {apart_at(bodies, s2s_bodies)} | {s2s_error - error:+.1e} | "
              f"{max_obs_diff(policy, runner, start):.1e} |")
    print("mean tracking error over the starts: " + ", ".join(f"{k} {np.mean(v):.4f}" for k, v in totals.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
