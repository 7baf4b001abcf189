"""The deployment runtime: what plays an exported policy (`python -m mimickit.tools.export_onnx`) outside training.

Everything in this package uses only numpy and mujoco (onnxruntime in `mimickit.tools.sim2sim`), never torch:
a robot's computer or a plain MuJoCo install runs it. Each module re-implements, in numpy, one piece of what the
training env computes with torch, and names the function it follows:
- `quat`: xyzw quaternions (`mimickit.anim.rotations`);
- `metadata`: the JSON written beside the ONNX file (schema in docs/deployment.md);
- `reference`: a `.pkl` clip as the motion library serves it (`mimickit.anim.motion_lib`, `kinematics`);
- `physics`: the MuJoCo model the training engine simulates, rebuilt from the MJCF and the metadata
  (`mimickit.sim.character`), and its state read as the engine reads it (`character_engine`);
- `observations`: DeepMimic's policy observation (`mimickit.envs.observations`, `deepmimic_env`).
"""
