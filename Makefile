# Two commands on a fresh machine: `make train` (short DeepMimic run on the CPU engine) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch from PyTorch's CPU index (PyPI's Linux wheel is the multi-GB CUDA build). For sim=mjwarp:
# make install TORCH_INDEX=https://download.pytorch.org/whl/cu130, then .venv/bin/pip install -e ".[gpu]".
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
SHARED_DATA ?= $(abspath ../shared/data)
# Packages that ship robot MJCFs (robot=g1 reads Menagerie's unitree_g1 from mjlab's wheel), installed without their
# dependencies: only their files are used (mjlab's own requirements would replace this project's mujoco).
MJCF_PACKAGES ?= mjlab==1.6.0

.PHONY: install train test bench data data-g1 clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH) --extra-index-url $(TORCH_INDEX)
	$(PY) -m pip install -q -e ".[dev,robots]"
	$(PY) -m pip install -q --no-deps $(MJCF_PACKAGES)
	touch $@

install: $(VENV)/.installed

train: data
	$(PY) -m mimickit.run experiment=deepmimic_humanoid_ppo num_envs=16 max_iters=20 algo.iters_per_output=5

test: data
	MIMICKIT_SHARED_DATA=$(SHARED_DATA) $(PY) -m pytest -x -q tests

bench: install
	$(PY) scripts/bench_sim.py

# Converted clips land in data/motions/humanoid/ (from the local mirror when it exists, else from GitHub).
data: install
	$(PY) scripts/fetch_motions.py $(if $(wildcard $(SHARED_DATA)),--source $(SHARED_DATA))

# The humanoid's walk and two dynamic clips retargeted onto the Unitree G1 (data/motions/g1/, with quality reports).
data-g1: data
	$(PY) -m mimickit.tools.retarget_to_robot data/motions/humanoid/humanoid_walk.pkl \
		data/motions/humanoid/humanoid_spinkick.pkl data/motions/humanoid/humanoid_jump.pkl --out-dir data/motions/g1

clean:
	rm -rf $(VENV) outputs multirun
