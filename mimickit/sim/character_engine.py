"""What the MuJoCo-based backends share: validated run keys and the character model they simulate."""
from __future__ import annotations

import torch

from mimickit.sim.character import Character, build_character, resolve_asset_path
from mimickit.sim.engine import ControlMode, Engine


class CharacterEngine(Engine):
    """Builds `self.character` (the MuJoCo model of one world) and the name/timing fields of the contract."""

    def __init__(
        self,
        mjcf: str,
        num_envs: int,
        device: str,
        sim_freq: int,
        control_freq: int,
        control_mode: str,
        self_collision: bool,
        passive_damping_frac: float,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        if control_freq <= 0 or sim_freq % control_freq != 0:
            raise ValueError(f"control_freq ({control_freq}) must be positive and divide sim_freq ({sim_freq})")
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.control_mode = ControlMode(control_mode)
        self._sim_freq = sim_freq
        self._control_freq = control_freq
        self.mjcf = str(resolve_asset_path(mjcf))
        self.character: Character = build_character(
            self.mjcf,
            sim_freq=sim_freq,
            control_mode=self.control_mode,
            self_collision=self_collision,
            passive_damping_frac=passive_damping_frac,
        )
        self.mj_model = self.character.model
        self.dof_names = list(self.character.dof_names)
        self.body_names = list(self.character.body_names)
