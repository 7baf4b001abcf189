"""A tiny DeepMimic policy trained through the CLI on the procedural clip, and its ONNX export: shared by the
export and sim2sim tests; a tiny ASE policy shared by the latent tools' tests (one training run each per session)."""
from pathlib import Path

import pytest

from deploy_helpers import TINY, TINY_ASE, run_module, train_tiny


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """model.pt of a 2-iteration run (32-unit nets, 4 envs) on the default procedural walk."""
    return train_tiny(tmp_path_factory.mktemp("tiny_run"), *TINY)


@pytest.fixture(scope="session")
def exported(tiny_checkpoint, tmp_path_factory) -> tuple[Path, str]:
    """The checkpoint exported through the CLI: (the .onnx path, the tool's stdout)."""
    onnx_path = tmp_path_factory.mktemp("export") / "policy.onnx"
    out = run_module("mimickit.tools.export_onnx", f"model_file={tiny_checkpoint}", f"output={onnx_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    return onnx_path, out.stdout


@pytest.fixture(scope="session")
def tiny_ase(tmp_path_factory) -> Path:
    """model.pt of a 2-iteration ASE run (32-unit nets, 8-d latents, 4 envs) on the procedural walk."""
    return train_tiny(tmp_path_factory.mktemp("tiny_ase"), *TINY_ASE)
