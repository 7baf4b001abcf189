"""How closely sim2sim reproduces the training env: episodes of an exported policy played both ways from the same
clip times, and the spread the training env itself shows when its actions are perturbed at float32 rounding.

    python scripts/sim2sim_parity.py model_file=outputs/walk/model.pt onnx=outputs/walk/model.onnx \
        [starts=0,0.5,1.0] [noise=1e-7] [noise_runs=3] [KEY=VALUE config overrides]

For each start time (s into the clip): the training env's deterministic episode (its CPU engine, one env, the torch
policy: what `mode=test` with `env.rand_reset=false` runs from 0), `noise_runs` more with N(0, noise) added to its
actions, and sim2sim's (numpy observation, ONNX policy, plain MuJoCo), with their episode lengths and mean tracking
errors (m); then the largest observation difference over an episode in which sim2sim's world receives the env's PD
targets (the observation's float32 rounding alone, no closed-loop drift). Numbers in docs/deployment.md.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from mimickit.tools.export_onnx import load_policy
from mimickit.tools.sim2sim import Sim2Sim

ARGS = {"model_file": None, "onnx": None, "starts": "0", "noise": "1e-7", "noise_runs": "3"}


@torch.no_grad()
def env_episode(policy, start: float, noise: float, generator: torch.Generator) -> tuple[int, float]:
    env, agent = policy.env, policy.agent
    obs = env.reset_to(torch.zeros(1, dtype=torch.long), torch.full((1,), start))
    errors = []
    while True:
        action = agent.policy_action(obs)
        action = action + noise * torch.randn(action.shape, generator=generator)
        obs, _, done, info = env.step(action)
        errors.append(float(info["episode/tracking_error"][0]))
        if int(done[0]) != 0:
            return len(errors), float(np.mean(errors))


@torch.no_grad()
def max_obs_diff(policy, runner: Sim2Sim, start: float) -> tuple[float, int]:
    """The largest |sim2sim obs - env obs| over an episode of the env's policy, both worlds given the env's targets."""
    env, agent = policy.env, policy.agent
    obs = env.reset_to(torch.zeros(1, dtype=torch.long), torch.full((1,), start))
    largest = float(np.abs(runner.reset(start) - obs[0].numpy()).max())
    for step in range(1, 10**6):
        action = agent.policy_action(obs)
        _, end = runner.step(env.actions_to_targets(action)[0].double().numpy())
        obs, _, done, _ = env.step(action)
        largest = max(largest, float(np.abs(runner.observe() - obs[0].numpy()).max()))
        if int(done[0]) != 0 or end is not None:
            return largest, step
    raise AssertionError("unreachable")


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
    print("| start (s) | env: length, error (m) | env, actions + N(0, %g): lengths, errors | sim2sim: length, error "
          "| sim2sim - env | max obs diff, same targets |" % noise)
    print("|---|---|---|---|---|---|")
    for start in (float(s) for s in args["starts"].split(",")):
        length, error = env_episode(policy, start, 0.0, generator)
        perturbed = [env_episode(policy, start, noise, generator) for _ in range(runs)]
        result = runner.run_episode(start)
        lengths = ", ".join(str(n) for n, _ in perturbed)
        errors = f"{min(e for _, e in perturbed):.6f}-{max(e for _, e in perturbed):.6f}"
        obs_diff, steps = max_obs_diff(policy, runner, start)
        print(f"| {start:g} | {length}, {error:.6f} | {lengths}; {errors} | {result.length}, "
              f"{result.tracking_error:.6f} | {result.tracking_error - error:+.2e} | {obs_diff:.1e} ({steps} steps) |")


if __name__ == "__main__":
    main(sys.argv[1:])
