"""Engine throughput: env steps/s and physics steps/s per num_envs, with random PD targets (pos mode).

    python scripts/bench_sim.py --num-envs 1 16 64 256 --steps 300
    python scripts/bench_sim.py --compare-layouts --num-envs 64   # Batch vs N characters in one MjData
    python scripts/bench_sim.py --sim mjwarp --device cuda --num-envs 1024 4096 16384   # GPU (MuJoCo Warp)

Targets are drawn uniformly over the joint ranges every control step (like an untrained policy) and every env is
put back on its feet every 3 s, so the timing includes contacts, falls and flailing limbs. "env step" is
`set_actions` + `step` + reading the usual observation state (root, DoFs, bodies, contact forces).
On a GPU, `step()` only queues work: timings are taken between device synchronisations, after a warm-up, and
"step() only" times a separate loop of `set_actions` + `step` (physics with PD control, nothing else).
"""
from __future__ import annotations

import argparse
import time

import mujoco
import mujoco.batch
import numpy as np
import torch

from mimickit.sim.character import build_character
from mimickit.sim.engine import CharState
from mimickit.sim.registry import ENGINES, build_engine

MJCF = "data/assets/humanoid/capsule_humanoid.xml"
RESTAND_STEPS = 90
WARMUP_STEPS = 30  # GPU: first graph replays and allocations stay out of the timings


def bench_engine(sim: str, num_envs: int, steps: int, nthread: int, device: str, seed: int) -> dict[str, float]:
    kwargs = dict(mjcf=MJCF, num_envs=num_envs, device=device)
    if sim == "mujoco":
        kwargs["nthread"] = nthread
    engine = build_engine(sim, **kwargs)  # conf/sim/<sim>.yaml's physics
    ids = torch.arange(num_envs, device=engine.device)
    standing = CharState.at_rest(engine.root_pos().clone(), engine.root_rot().clone(), engine.dof_pos().clone())
    low, high = engine.dof_limits
    gen = torch.Generator(device=engine.device).manual_seed(seed)
    targets = [low + (high - low) * torch.rand(num_envs, engine.num_dofs, generator=gen, device=engine.device)
               for _ in range(RESTAND_STEPS)]
    if engine.device.type == "cuda":
        _run_steps(engine, targets, WARMUP_STEPS)
    _synchronize(engine)
    step_time = 0.0
    start = time.perf_counter()
    for i in range(steps):
        if i % RESTAND_STEPS == 0:
            engine.set_state(ids, standing)
        engine.set_actions(targets[i % RESTAND_STEPS])
        t0 = time.perf_counter()
        engine.step()
        step_time += time.perf_counter() - t0
        for getter in (engine.root_pos, engine.root_rot, engine.root_lin_vel, engine.root_ang_vel, engine.dof_pos,
                       engine.dof_vel, engine.body_pos, engine.contact_forces):
            getter()
    _synchronize(engine)
    total = time.perf_counter() - start
    if engine.device.type == "cuda":
        start = time.perf_counter()
        _run_steps(engine, targets, steps)
        _synchronize(engine)
        step_time = time.perf_counter() - start
    return {
        "env_steps_per_s": num_envs * steps / total,
        "physics_steps_per_s": num_envs * steps * engine.substeps / total,
        "step_only_env_steps_per_s": num_envs * steps / step_time,
        "unstable": engine.num_unstable_resets,
    }


def _run_steps(engine, targets: list[torch.Tensor], steps: int) -> None:
    for i in range(steps):
        engine.set_actions(targets[i % len(targets)])
        engine.step()


def _synchronize(engine) -> None:
    if engine.device.type == "cuda":
        torch.cuda.synchronize(engine.device)


def bench_layouts(num_envs: int, steps: int, seed: int, rounds: int = 3) -> dict[str, float]:
    """Env steps/s of N characters as N Batch worlds vs as N copies in one MjData (collisions between bodies off).

    Self-collision is off in both so the two simulate the same thing. Variants run interleaved, `rounds` times,
    and the best rate of each is kept, which damps the noise of a shared machine."""
    char = build_character(MJCF, self_collision=False)
    rng = np.random.default_rng(seed)
    low, high = char.model.actuator_ctrlrange.T
    variants = {}
    for nthread in (1, 2):
        for persistent in (False, True):
            name = f"batch nthread={nthread}{' persistent' if persistent else ''}"
            variants[name] = _batch_stepper(char, num_envs, nthread, persistent, rng, low, high)
    variants["one MjData, N characters"] = _one_data_stepper(char, num_envs, rng)

    results = dict.fromkeys(variants, 0.0)
    for _ in range(rounds):
        for name, step in variants.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            results[name] = max(results[name], num_envs * steps / (time.perf_counter() - start))
    return results


def _batch_stepper(char, num_envs, nthread, persistent, rng, low, high):
    batch = mujoco.batch.Batch(char.model, nsim=num_envs, nthread=nthread, persistent=persistent)
    qpos, ctrl = batch.bind("qpos"), batch.bind("ctrl")
    batch.bind("xpos")
    qpos[:] = char.default_qpos
    batch.forward()

    def step():
        ctrl[:] = rng.uniform(low, high, size=ctrl.shape)
        batch.step(nstep=4, stage=mujoco.mjtStage.mjSTAGE_VEL)

    return step


def _one_data_stepper(char, num_envs, rng):
    world = mujoco.MjSpec()
    world.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], condim=3)
    world.option.timestep = char.model.opt.timestep
    world.option.integrator = char.model.opt.integrator
    child = char.spec.copy()
    child.delete(child.geom("floor"))
    side = int(np.ceil(np.sqrt(num_envs)))
    for i in range(num_envs):
        frame = world.worldbody.add_frame(pos=[3.0 * (i % side), 3.0 * (i // side), 0.0])
        world.attach(child.copy(), prefix=f"c{i}_", frame=frame)
    model = world.compile()
    data = mujoco.MjData(model)
    nq = char.model.nq
    for i in range(num_envs):
        data.qpos[i * nq:(i + 1) * nq] = char.default_qpos
    mujoco.mj_forward(model, data)
    low, high = model.actuator_ctrlrange.T

    def step():
        data.ctrl[:] = rng.uniform(low, high)
        mujoco.mj_step(model, data, nstep=4)  # no stage-VEL refresh: this variant gets the benefit of the doubt

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim", default="mujoco", choices=sorted(ENGINES))
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--steps", type=int, default=300, help="control steps per measurement")
    parser.add_argument("--nthread", type=int, default=0, help="Batch threads (mujoco only); 0 = every CPU")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-layouts", action="store_true", help="Batch vs N characters in one MjData")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.compare_layouts:
        for num_envs in args.num_envs:
            for name, rate in bench_layouts(num_envs, args.steps, args.seed).items():
                print(f"num_envs {num_envs:5d}  {name:28s} {rate:10.0f} env steps/s")
        return

    print(f"{'num_envs':>8} {'env steps/s':>12} {'physics steps/s':>16} {'step() only':>12} {'unstable':>9}")
    for num_envs in args.num_envs:
        r = bench_engine(args.sim, num_envs, args.steps, args.nthread, args.device, args.seed)
        print(f"{num_envs:8d} {r['env_steps_per_s']:12.0f} {r['physics_steps_per_s']:16.0f} "
              f"{r['step_only_env_steps_per_s']:12.0f} {r['unstable']:9d}")


if __name__ == "__main__":
    main()
