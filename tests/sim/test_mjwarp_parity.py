"""The GPU engine (MuJoCo Warp, float32) against the CPU engine (MuJoCo, float64): same model, same initial states,
same PD targets, so the trajectories must agree closely over a short horizon. Also checks that the two backends'
configs describe the same physics.

The trajectory tests need mujoco_warp and a CUDA device (MIMICKIT_MJWARP_DEVICE=cpu runs them on MuJoCo Warp's
CPU backend instead) and skip otherwise. Measured worst differences over these horizons (docs/gpu.md) are about
1e-6 (positions) to 1e-5 (velocities); the tolerances leave a factor of ~100 for the GPU's float32 rounding order.
"""
from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import pytest
import torch
import yaml

from mimickit.sim.engine import CharState
from mimickit.sim.registry import build_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
HUMANOID_XML = str(REPO_ROOT / "data" / "assets" / "humanoid" / "capsule_humanoid.xml")
GPU_DEVICE = os.environ.get("MIMICKIT_MJWARP_DEVICE", "cuda")
GRAVITY = 9.81

QUANTITIES = ("root_pos", "root_rot", "root_lin_vel", "root_ang_vel", "dof_pos", "dof_vel", "body_pos", "body_rot",
              "body_lin_vel", "body_ang_vel", "contact_forces")


def _skip_reason() -> str | None:
    if importlib.util.find_spec("mujoco_warp") is None:
        return "mujoco_warp is not installed"
    if GPU_DEVICE.startswith("cuda") and not torch.cuda.is_available():
        return "no CUDA device"
    return None


needs_mjwarp = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _engines(num_envs: int, **kwargs):
    cpu = build_engine("mujoco", mjcf=HUMANOID_XML, num_envs=num_envs, device="cpu", nthread=1, **kwargs)
    gpu = build_engine("mjwarp", mjcf=HUMANOID_XML, num_envs=num_envs, device=GPU_DEVICE, **kwargs)
    return cpu, gpu


def _airborne_state(engine, n: int, seed: int) -> CharState:
    """Random poses in the middle of the joint ranges, 3 m up, moving; the same on both engines."""
    gen = torch.Generator().manual_seed(seed)
    low, high = (x.cpu() for x in engine.dof_limits)
    rot = torch.randn(n, 4, generator=gen)
    return CharState(
        root_pos=torch.cat([torch.rand(n, 2, generator=gen), torch.full((n, 1), 3.0)], dim=1),
        root_rot=rot / rot.norm(dim=1, keepdim=True),
        dof_pos=low + (high - low) * (0.35 + 0.3 * torch.rand(n, engine.num_dofs, generator=gen)),
        root_lin_vel=0.5 * torch.randn(n, 3, generator=gen),
        root_ang_vel=0.5 * torch.randn(n, 3, generator=gen),
        dof_vel=0.5 * torch.randn(n, engine.num_dofs, generator=gen),
    )


def _mid_range_targets(engine, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    low, high = (x.cpu() for x in engine.dof_limits)
    return low + (high - low) * (0.3 + 0.4 * torch.rand(n, engine.num_dofs, generator=gen))


def _errors(cpu, gpu) -> dict[str, float]:
    """Largest absolute difference of every getter; quaternions compared up to sign."""
    errors = {}
    for name in QUANTITIES:
        a, b = getattr(cpu, name)(), getattr(gpu, name)().cpu()
        if name.endswith("_rot"):
            b = b * torch.sign((a * b).sum(-1, keepdim=True))
        errors[name] = (a - b).abs().max().item()
    return errors


def _run_both(cpu, gpu, targets: torch.Tensor, steps: int) -> dict[str, float]:
    """Step both engines under the same targets; the worst error of each quantity over the horizon."""
    worst = dict.fromkeys(QUANTITIES, 0.0)
    for _ in range(steps):
        cpu.set_actions(targets)
        gpu.set_actions(targets.to(gpu.device))
        cpu.step()
        gpu.step()
        worst = {k: max(v, e) for (k, v), e in zip(worst.items(), _errors(cpu, gpu).values())}
    print("\nworst |cpu - gpu| over", steps, "control steps:", {k: f"{v:.2e}" for k, v in worst.items()})
    return worst


@needs_mjwarp
def test_airborne_pd_trajectories_agree_including_resets_of_some_envs():
    """No contacts: PD servos, gravity and joint limits only. Halfway, two envs are teleported on both engines."""
    cpu, gpu = _engines(num_envs=4, self_collision=False)
    all_ids = torch.arange(4)
    state = _airborne_state(cpu, 4, seed=0)
    cpu.set_state(all_ids, state)
    gpu.set_state(all_ids.to(gpu.device), CharState(*(x.to(gpu.device) for x in state)))
    assert max(_errors(cpu, gpu).values()) < 1e-5  # the same state, read back through both conventions

    targets = _mid_range_targets(cpu, 4, seed=1)
    first = _run_both(cpu, gpu, targets, steps=8)
    reset_ids = torch.tensor([1, 3])
    new_state = _airborne_state(cpu, 2, seed=2)
    cpu.set_state(reset_ids, new_state)
    gpu.set_state(reset_ids.to(gpu.device), CharState(*(x.to(gpu.device) for x in new_state)))
    second = _run_both(cpu, gpu, targets, steps=8)

    for worst in (first, second):
        assert worst["root_pos"] < 1e-4 and worst["body_pos"] < 1e-4
        assert worst["root_rot"] < 1e-4 and worst["body_rot"] < 1e-4
        assert worst["dof_pos"] < 1e-4
        assert worst["root_lin_vel"] < 1e-3 and worst["body_lin_vel"] < 1e-3
        assert worst["dof_vel"] < 1e-3 and worst["body_ang_vel"] < 1e-3
        assert worst["contact_forces"] == 0.0  # airborne: none on either engine
    assert not cpu.pop_unstable_mask().any() and not gpu.pop_unstable_mask().any()


@needs_mjwarp
def test_standing_contact_trajectories_agree():
    """Feet on the floor, targets near the T-pose: contact forces carry the weight on both engines alike."""
    cpu, gpu = _engines(num_envs=4)
    targets = 0.05 * torch.randn(4, cpu.num_dofs, generator=torch.Generator().manual_seed(3))
    worst = _run_both(cpu, gpu, targets, steps=10)
    weight = float(cpu.mj_model.body_subtreemass[1]) * GRAVITY

    assert worst["root_pos"] < 1e-4 and worst["body_pos"] < 1e-4
    assert worst["dof_pos"] < 1e-3
    assert worst["root_lin_vel"] < 1e-3 and worst["dof_vel"] < 1e-2
    total_cpu, total_gpu = cpu.contact_forces()[..., 2].sum(1), gpu.contact_forces()[..., 2].sum(1).cpu()
    assert torch.all(total_gpu > 0.5 * weight)  # it stands on the floor
    torch.testing.assert_close(total_gpu, total_cpu, atol=0.01 * weight, rtol=0)


def _init_keywords(path: Path, class_name: str) -> set[str]:
    """Constructor keywords of a class, read from the source so that no GPU package is imported."""
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    return {a.arg for a in init.args.args[1:] + init.args.kwonlyargs}


def test_mjwarp_config_lists_the_constructor_keywords_and_the_cpu_physics():
    gpu_conf = yaml.safe_load((REPO_ROOT / "conf" / "sim" / "mjwarp.yaml").read_text())
    cpu_conf = yaml.safe_load((REPO_ROOT / "conf" / "sim" / "mujoco.yaml").read_text())
    keywords = _init_keywords(REPO_ROOT / "mimickit" / "sim" / "mjwarp_engine.py", "MjwarpEngine")
    assert set(gpu_conf) - {"_target_"} == keywords
    assert gpu_conf["_target_"] == "mimickit.sim.mjwarp_engine.MjwarpEngine"
    shared = set(cpu_conf) & set(gpu_conf) - {"_target_"}
    assert {"sim_freq", "control_freq", "control_mode", "passive_damping_frac", "self_collision"} <= shared
    assert {k: gpu_conf[k] for k in shared} == {k: cpu_conf[k] for k in shared}
