"""latent_search: the cross-entropy search on a known score, and the tool end to end on a tiny ASE checkpoint (CPU
engine): the found latent is a unit vector and its statistics are written."""
import json

import numpy as np
import torch
from deploy_helpers import run_module

from mimickit.tools import latent_search


def test_the_search_finds_the_direction_a_score_rewards():
    target = torch.nn.functional.normalize(torch.arange(1.0, 9.0), dim=0)
    found, history = latent_search.cross_entropy_search(lambda z: z @ target, dim=8, generations=25,
                                                        population=32, elites=4,
                                                        generator=torch.Generator().manual_seed(0))
    assert abs(float(found.norm()) - 1.0) < 1e-6
    assert float(found @ target) > 0.97
    assert history[-1]["elite_mean"] > history[0]["elite_mean"] + 0.3  # it climbed: random unit vectors score ~0
    assert len(history) == 25 and all(h["best"] >= h["elite_mean"] >= h["population_mean"] for h in history)


def test_cli_writes_the_found_latent_and_its_statistics(tiny_ase, tmp_path):
    output = tmp_path / "search.json"
    out = run_module("mimickit.tools.latent_search", f"model_file={tiny_ase}", "generations=2", "population=3",
                     "envs_per_latent=2", "elites=2", "steps=12", "settle=2", f"output={output}", "sim.nthread=1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "generation 1:" in out.stdout and f"wrote {output}" in out.stdout
    summary = json.loads(output.read_text())
    assert len(summary["history"]) == 2
    assert abs(np.linalg.norm(summary["latent"]) - 1.0) < 1e-6 and len(summary["latent"]) == 8
    assert 0.0 <= summary["survival"] <= 1.0 and summary["speed"] >= abs(summary["forward_speed"]) - 1e-9
