#!/usr/bin/env bash
# GPU checks of the MuJoCo Warp engine, run on the device machine from the repository root after staging
# (bash ../shared/tools/gpu/prepare.sh and bash scripts/gpu/split_staging.sh here; then four device calls in quick
# succession, as that script says: the machine goes back after ~30 s idle, and a later call finds nothing staged).
#
#   bash scripts/gpu/run_checks.sh            # logs under $OUT (the device tool brings them back), else /tmp/gpu_out
#
# Stages, each bounded so that a slow one leaves time for the rest: a smoke test that times the first engine build
# (kernel compilation, cached in ~/.cache/warp afterwards), the CPU-vs-GPU parity tests, the physics benchmark at
# 1024/4096/16384 worlds, and the engine contract tests on the GPU backend.
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
out=${OUT:-/tmp/gpu_out}
mkdir -p "$out"
pytest_args=(-q -rfE -p no:cacheprovider)

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import sys, torch, warp, mujoco, mujoco_warp; print(sys.version.split()[0], 'torch', torch.__version__, 'warp', warp.__version__, 'mujoco', mujoco.__version__, 'mujoco_warp', mujoco_warp.__version__)"
  python3 -m pytest --version
} 2>&1 | tee "$out/env.txt"

timeout 330 python3 - <<'PY' 2>&1 | grep -v "^Module " | tee "$out/smoke.log"
import time, torch
from mimickit.sim.mjwarp_engine import MjwarpEngine
start = time.perf_counter()
engine = MjwarpEngine(mjcf="data/assets/humanoid/capsule_humanoid.xml", num_envs=16, device="cuda")
print(f"first build (compiles kernels, captures graphs): {time.perf_counter() - start:.1f} s; "
      f"nconmax {engine.nconmax} njmax {engine.njmax}")
for _ in range(30):
    engine.set_actions(torch.zeros(16, engine.num_dofs, device="cuda"))
    engine.step()
print("root height after 1 s standing:", engine.root_pos()[:, 2].mean().item(), "unstable:", engine.num_unstable_resets)
PY

timeout 150 python3 -m pytest "${pytest_args[@]}" -s tests/sim/test_mjwarp_parity.py 2>&1 | grep -v "^Module " | tee "$out/parity.log"
timeout 200 python3 scripts/bench_sim.py --sim mjwarp --device cuda --num-envs 1024 4096 16384 2>&1 \
  | grep -v "^Module " | tee "$out/bench.log"
timeout 240 python3 -m pytest "${pytest_args[@]}" tests/sim/test_engine_contract.py -k mjwarp 2>&1 \
  | grep -v "^Module " | tee "$out/contract.log"
