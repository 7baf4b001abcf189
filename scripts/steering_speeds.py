"""A trained steering policy's errors per target speed: one `mode=test` run per speed, every target at that speed
(`env.tar_speed_min = env.tar_speed_max`), the rest of the run config as saved beside the checkpoint. The preset's
`episode/speed_err` averages over its whole speed range; this says which speeds it misses (docs/adversarial.md,
sixth session). AMP steering and ASE controller checkpoints alike:

    python scripts/steering_speeds.py outputs/<steering run>/model.pt
    python scripts/steering_speeds.py hlc/model.pt -- sim=mjwarp device=cuda algo.llc_model_file=<ase run>/model.pt

Further arguments after `--` go to every test run (the defaults run the CPU engine).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

COLUMNS = ("episode/root_speed", "episode/speed_err", "episode/heading_err_deg", "episode_length")
ERROR_OF = "episode/speed_err"  # its standard error over the episodes is printed beside it (speed_err_se)
CPU_ENGINE = ("sim=mujoco", "device=cpu")  # unless the command line names an engine or device


def test_at_speed(model_file: str, speed: float, episodes: int, overrides: list[str], run_dir: Path) -> dict[str, float]:
    """The test metrics of `model_file` with every target at `speed` m/s."""
    command = [sys.executable, "-m", "mimickit.run", "mode=test", f"model_file={model_file}", f"num_envs={episodes}",
               f"test_episodes={episodes}", f"env.tar_speed_min={speed}", f"env.tar_speed_max={speed}",
               f"hydra.run.dir={run_dir}", *overrides]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"the test at {speed} m/s failed:\n{done.stderr[-3000:]}")
    return json.loads((run_dir / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_file", help="model.pt of a steering run (config.yaml beside it)")
    parser.add_argument("--speeds", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0, 3.5], help="m/s")
    parser.add_argument("--episodes", type=int, default=64, help="test episodes (and envs) per speed")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:split]), argv[split + 1:]  # after --: Hydra overrides for every test run
    named = {override.split("=")[0] for override in extra}
    overrides = [o for o in CPU_ENGINE if o.split("=")[0] not in named] + extra
    names = [c.removeprefix("episode/") for c in COLUMNS]
    names.insert(COLUMNS.index(ERROR_OF) + 1, "speed_err_se")
    print(f"{'target (m/s)':>12} " + " ".join(f"{name:>15}" for name in names))
    with tempfile.TemporaryDirectory() as tmp:
        for speed in args.speeds:
            metrics = test_at_speed(args.model_file, speed, args.episodes, overrides, Path(tmp) / f"speed_{speed:g}")
            values = [metrics[c] for c in COLUMNS]
            values.insert(COLUMNS.index(ERROR_OF) + 1, metrics["standard_error"][ERROR_OF])
            print(f"{speed:12.2f} " + " ".join(f"{v:15.3f}" for v in values), flush=True)


if __name__ == "__main__":
    main()
