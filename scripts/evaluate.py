"""Evaluate a tracking checkpoint on every clip of a motion library: `mimickit mode=eval model_file=...`, with the
report written beside the checkpoint (its run directory's eval/<date_time>/) unless hydra.run.dir is given.

    python scripts/evaluate.py outputs/.../model.pt                          # the clips it was trained on
    python scripts/evaluate.py outputs/.../model.pt motion=deepmimic_all eval.random_starts=8
    python scripts/evaluate.py outputs/.../model.pt motion.motion_file=my_clips.yaml sim=mjwarp device=cuda

Writes eval.csv, eval.md, eval_per_frame.csv/png and metrics.json (docs/evaluation.md); any other argument is a
Hydra override, as for mimickit.run.
"""
from __future__ import annotations

import os
import sys

from mimickit.resume import saved_config_path


def eval_argv(model_file: str, overrides: list[str]) -> list[str]:
    """mimickit.run's arguments: mode=eval, the checkpoint, and a run directory beside it unless one is given."""
    argv = ["mode=eval", f"model_file={model_file}", *overrides]
    if not any(arg.startswith("hydra.run.dir=") for arg in overrides):
        saved = saved_config_path(model_file)
        run_dir = os.path.dirname(saved) if saved else os.path.dirname(os.path.abspath(model_file))
        argv.append(f"hydra.run.dir={os.path.join(run_dir, 'eval', '${now:%Y-%m-%d_%H-%M-%S}')}")
    return argv


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help") or "=" in sys.argv[1]:
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    from mimickit import run

    sys.argv = [sys.argv[0], *eval_argv(sys.argv[1], sys.argv[2:])]
    run.cli()


if __name__ == "__main__":
    main()
