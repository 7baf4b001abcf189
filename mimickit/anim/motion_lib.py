"""The motion library: every clip of a dataset packed into flat per-frame tensors, queried in batches.

Loading precomputes, per frame, the root and body states (FK), hinge angles and finite-difference velocities;
`calc_motion_frame` then only gathers the two frames around each query time and blends them. Times past the
end of a WRAP clip wrap around and the root moves on by the clip's horizontal displacement once per cycle
(as in MimicKit: the heading is not carried over); CLAMP clips hold their last frame. A clip whose root or joints
move faster or further than a body can (the MAX_* bounds) is refused at load, naming the frame and the value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import yaml

from mimickit.anim import rotations as rot
from mimickit.anim.kinematics import JointType, KinematicCharacter
from mimickit.anim.motion import (
    ROOT_DIM,
    ROOT_POS_DIM,
    LoopMode,
    Motion,
    MotionFormatError,
    load_motion,
    motion_not_found,
)
from mimickit.sim.engine import CharState
from mimickit.utils.paths import resolve_path

_DATASET_SUFFIXES = (".yaml", ".yml")
_ENTRY_KEYS = {"file", "weight"}

# Bounds every clip must stay within when loaded: a clip beyond them is corrupt or in the wrong units, and would
# otherwise train silently on episodes that end at once. Speeds are differences between consecutive frames times
# the fps. In brackets, the maxima measured over the 26 clips of data/motions/humanoid (`make data`); the bounds
# leave about 3x, except the root position, which grows with the clip's length rather than with the motion.
MAX_ROOT_POS = 100.0  # m, |root position| (3.09, humanoid_amp_run: 3x would refuse any clip travelling ~10 m)
MAX_ROOT_SPEED = 25.0  # m/s (7.88, humanoid_amp_run)
MAX_ROOT_ANG_SPEED = 50.0  # rad/s (14.0, humanoid_amp_cartwheel)
MAX_JOINT_ANG_SPEED = 200.0  # rad/s (3-DoF 59.6, humanoid_amp_cartwheel right_foot; 1-DoF 32.2, same clip)


class MotionFrame(NamedTuple):
    """Reference state of a batch of (clip, time) queries; velocities in the world frame, quaternions xyzw."""

    root_pos: torch.Tensor  # (N, 3)
    root_rot: torch.Tensor  # (N, 4)
    root_lin_vel: torch.Tensor  # (N, 3)
    root_ang_vel: torch.Tensor  # (N, 3)
    dof_pos: torch.Tensor  # (N, num_dofs) hinge angles, as an engine reports them
    dof_vel: torch.Tensor  # (N, num_dofs) hinge angle rates
    body_pos: torch.Tensor | None  # (N, num_bodies, 3), unless with_bodies=False
    body_rot: torch.Tensor | None  # (N, num_bodies, 4)
    body_lin_vel: torch.Tensor | None = None  # (N, num_bodies, 3), only when asked for (it costs ~40% more)
    body_ang_vel: torch.Tensor | None = None  # (N, num_bodies, 3)

    def char_state(self) -> CharState:
        """The root and DoF state (the first six fields), as `Engine.set_state` takes it."""
        return CharState(self.root_pos, self.root_rot, self.root_lin_vel, self.root_ang_vel, self.dof_pos, self.dof_vel)


@dataclass(frozen=True)
class MotionEntry:
    file: str
    weight: float


class MotionLib:
    """All clips of `motion_file` on `device`, sampled and interpolated in batches."""

    def __init__(
        self,
        motion_file: str,
        character: KinematicCharacter,
        *,
        min_fps: float,
        device: str | torch.device = "cpu",
    ):
        """motion_file: a `.pkl` clip or a dataset YAML (`motions: [{file, weight}]`, paths relative to the YAML);
        character: the kinematic model the clips are for;
        min_fps: slower clips are upsampled at load by an integer factor (slerp of the joint rotations, lerp of
        the root position), so that blending precomputed body states between two frames stays close to the
        FK of the blended pose (a 16 fps backflip otherwise cuts 15-25 cm chords mid-frame);
        device: where the packed tensors live (given by the composition root, the engine's device).
        The motion group's YAML (conf/) is the one place of min_fps's default."""
        if min_fps <= 0:
            raise ValueError(f"min_fps must be > 0, got {min_fps}")
        self.device = torch.device(device)
        self.character = character
        self.min_fps = float(min_fps)
        entries = load_motion_entries(motion_file)
        motions = [_load_entry(e, character, motion_file) for e in entries]
        self.motion_files = [e.file for e in entries]
        self._pack(motions, [e.weight for e in entries])

    # ---- clip metadata ----
    @property
    def num_motions(self) -> int:
        return int(self.motion_num_frames.numel())

    @property
    def num_frames(self) -> int:
        return int(self.frame_body_pos.shape[0])

    @property
    def num_dofs(self) -> int:
        return self.character.num_dofs

    @property
    def num_bodies(self) -> int:
        return self.character.num_bodies

    @property
    def body_names(self) -> list[str]:
        return self.character.body_names

    @property
    def body_parents(self) -> torch.Tensor:
        """(num_bodies,) parent index of each body, -1 for the root."""
        return self.character.parent_indices

    @property
    def total_length(self) -> float:
        return float(self.motion_lengths.sum())

    def get_motion_length(self, motion_ids: torch.Tensor) -> torch.Tensor:
        return self.motion_lengths[motion_ids]

    def get_motion_loop_mode(self, motion_ids: torch.Tensor) -> torch.Tensor:
        return self.motion_loop_modes[motion_ids]

    def is_wrapping(self, motion_ids: torch.Tensor) -> torch.Tensor:
        return self.motion_loop_modes[motion_ids] == LoopMode.WRAP

    # ---- sampling ----
    def sample_motions(self, n: int) -> torch.Tensor:
        """(n,) clip ids drawn with probability proportional to the dataset weights (inverse CDF of one uniform draw
        each: no host sync, so it can run inside a CUDA graph)."""
        u = torch.rand(n, device=self.device)
        return torch.searchsorted(self._motion_cdf, u, right=True).clamp_(max=self.num_motions - 1)

    def sample_times(self, motion_ids: torch.Tensor, truncate_time: float | None = None) -> torch.Tensor:
        """Uniform times in [0, length - truncate_time] of each clip (0 where the clip is shorter)."""
        if truncate_time is not None and truncate_time < 0:
            raise ValueError(f"truncate_time must be >= 0, got {truncate_time}")
        length = self.motion_lengths[motion_ids]
        if truncate_time is not None:
            length = (length - truncate_time).clamp_min(0.0)
        return torch.rand(motion_ids.shape, device=self.device) * length

    # ---- queries ----
    def calc_motion_frame(
        self,
        motion_ids: torch.Tensor,
        motion_times: torch.Tensor,
        with_body_vel: bool = False,
        with_bodies: bool = True,
    ) -> MotionFrame:
        """Blend the two frames around each time: lerp positions, velocities and hinge angles, slerp rotations.

        One row gather per query: each frame's table row holds its values, the step to the next frame and the
        slerp terms (see `compute_query_tables`). `with_bodies=False` returns only the root and DoF state (what
        reference state initialisation needs) from a table a third as wide.
        """
        if motion_ids.shape != motion_times.shape or motion_ids.dim() != 1:
            raise ValueError(
                f"motion_ids {tuple(motion_ids.shape)} and motion_times {tuple(motion_times.shape)} must be "
                "1-D and of the same length"
            )
        frame, blend, cycles = compute_frame_blend(
            motion_times,
            self.motion_lengths[motion_ids],
            self.motion_fps[motion_ids],
            self.motion_num_frames[motion_ids],
            self.motion_start_idx[motion_ids],
            self.is_wrapping(motion_ids),
        )
        n, d = motion_ids.shape[0], self.num_dofs
        b = self.num_bodies if with_bodies else 1
        t = blend.unsqueeze(-1)
        row = (self._query_table if with_bodies else self._state_table).index_select(0, frame)  # faster than [frame]
        width = 6 + 3 * b + 2 * d
        linear = torch.addcmul(row[:, :width], row[:, width : 2 * width], t)
        root_lin_vel, root_ang_vel, body_pos, dof_pos, dof_vel = linear.split([3, 3, 3 * b, d, d], dim=-1)
        body_pos = body_pos.view(n, b, 3)
        body_pos += (cycles.unsqueeze(-1) * self.motion_wrap_delta[motion_ids]).unsqueeze(-2)
        rot0, rot1, angle, inv_sinc = row[:, 2 * width :].split([4 * b, 4 * b, b, b], dim=-1)
        body_rot = compute_slerp_terms(rot0.view(n, b, 4), rot1.view(n, b, 4), angle, inv_sinc, t)
        body_lin_vel = body_ang_vel = None
        if with_body_vel:
            vel_row = self._body_vel_table.index_select(0, frame)
            vel = torch.addcmul(vel_row[:, : 6 * self.num_bodies], vel_row[:, 6 * self.num_bodies :], t)
            body_lin_vel, body_ang_vel = (v.reshape(n, self.num_bodies, 3) for v in vel.split(2 * [3 * self.num_bodies], -1))
        return MotionFrame(
            root_pos=body_pos[:, 0],
            root_rot=body_rot[:, 0],
            root_lin_vel=root_lin_vel,
            root_ang_vel=root_ang_vel,
            dof_pos=dof_pos,
            dof_vel=dof_vel,
            body_pos=body_pos if with_bodies else None,
            body_rot=body_rot if with_bodies else None,
            body_lin_vel=body_lin_vel,
            body_ang_vel=body_ang_vel,
        )

    # ---- loading ----
    def _clip_pose(self, motion: Motion) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Root position, root rotation, joint rotations (float64) and fps of a clip, upsampled to >= min_fps."""
        frames = torch.as_tensor(motion.frames, dtype=torch.float64, device=self.character.device)
        root_pos, root_rot = self.character.frame_to_root(frames)
        joint_rot = self.character.frame_dofs_to_joint_rot(frames[:, ROOT_DIM:])
        factor = _upsample_factor(motion.fps, self.min_fps)
        if factor == 1:
            return root_pos, root_rot, joint_rot, motion.fps
        steps = torch.arange((motion.num_frames - 1) * factor + 1, device=frames.device)
        index0 = (steps // factor).clamp(max=motion.num_frames - 2)
        blend = ((steps - index0 * factor).to(torch.float64) / factor).unsqueeze(-1)
        index1 = index0 + 1
        root_pos = torch.lerp(root_pos[index0], root_pos[index1], blend)
        root_rot = rot.slerp(root_rot[index0], root_rot[index1], blend)
        joint_rot = rot.slerp(joint_rot[index0], joint_rot[index1], blend.unsqueeze(-1))
        return root_pos, root_rot, joint_rot, motion.fps * factor

    def _pack(self, motions: list[Motion], weights: list[float]) -> None:
        """Concatenate the clips and precompute every per-frame quantity (in float64, stored as float32)."""
        work = self.character.device
        f64 = dict(dtype=torch.float64, device=work)
        clips = [self._clip_pose(m) for m in motions]
        num_frames = torch.tensor([len(c[0]) for c in clips], dtype=torch.long, device=work)
        fps = torch.tensor([c[3] for c in clips], **f64)
        loop_modes = torch.tensor([int(m.loop_mode) for m in motions], dtype=torch.long, device=work)
        start_idx = torch.cumsum(num_frames, 0) - num_frames
        root_pos, root_rot, joint_rot = (torch.cat([c[k] for c in clips]) for k in range(3))

        c = self.character
        dof_pos = c.joint_rot_to_dof(joint_rot)
        body_pos, body_rot = c.forward_kinematics(root_pos, root_rot, joint_rot)

        # central differences inside each clip, one-sided at its ends
        clip = torch.repeat_interleave(torch.arange(len(motions), device=work), num_frames)
        idx = torch.arange(root_pos.shape[0], device=work)
        first, last = start_idx[clip], start_idx[clip] + num_frames[clip] - 1
        prev, nxt = torch.maximum(idx - 1, first), torch.minimum(idx + 1, last)
        span = (nxt - prev).to(torch.float64) / fps[clip]
        body_lin_vel = (body_pos[nxt] - body_pos[prev]) / span[:, None, None]
        body_ang_vel = rot.quat_to_angular_velocity(body_rot[prev], body_rot[nxt], span[:, None, None])
        dof_vel = c.joint_rot_to_dof_vel(joint_rot[prev], joint_rot[nxt], span, dof_pos)
        # the next frame's hinge angles written in this frame's Euler branch, so lerping never crosses a branch
        dof_pos_next = c.joint_rot_to_dof(joint_rot[nxt], near=dof_pos)

        wrap_delta = root_pos[start_idx + num_frames - 1] - root_pos[start_idx]
        wrap_delta[:, 2] = 0.0
        wrap_delta[loop_modes != LoopMode.WRAP] = 0.0

        query_table, body_vel_table = compute_query_tables(
            body_pos, body_rot, body_lin_vel, body_ang_vel, dof_pos, dof_pos_next, dof_vel, nxt
        )

        def to_dev(x: torch.Tensor) -> torch.Tensor:
            return x.to(device=self.device, dtype=torch.float32).contiguous()

        self.motion_weights = to_dev(torch.tensor(weights, **f64) / sum(weights))
        self._motion_cdf = to_dev(torch.cumsum(torch.tensor(weights, **f64), 0) / sum(weights))
        self.motion_fps = to_dev(fps)
        self.motion_num_frames = num_frames.to(self.device)
        self.motion_lengths = to_dev((num_frames - 1) / fps)
        self.motion_loop_modes = loop_modes.to(self.device)
        self.motion_start_idx = start_idx.to(self.device)
        self.motion_wrap_delta = to_dev(wrap_delta)
        self.frame_body_pos = to_dev(body_pos)
        self.frame_body_rot = to_dev(body_rot)
        self.frame_body_lin_vel = to_dev(body_lin_vel)
        self.frame_body_ang_vel = to_dev(body_ang_vel)
        self.frame_dof_pos = to_dev(dof_pos)
        self.frame_dof_vel = to_dev(dof_vel)
        self._query_table = to_dev(query_table)
        self._state_table = to_dev(query_table[:, root_state_columns(self.num_bodies, self.num_dofs)])
        self._body_vel_table = to_dev(body_vel_table)


def _upsample_factor(fps: float, min_fps: float) -> int:
    return max(1, math.ceil(min_fps / fps - 1e-9))


def compute_query_tables(
    body_pos: torch.Tensor,
    body_rot: torch.Tensor,
    body_lin_vel: torch.Tensor,
    body_ang_vel: torch.Tensor,
    dof_pos: torch.Tensor,
    dof_pos_next: torch.Tensor,
    dof_vel: torch.Tensor,
    nxt: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame rows that let a query gather a single row (`nxt` is each frame's next frame in its clip).

    Query row: [values | step to the next frame | body rot | next body rot on its hemisphere | angle/pi |
    1/sinc(angle/pi)], values = [root lin vel, root ang vel, body pos, dof pos, dof vel]. The dof-pos step goes to
    `dof_pos_next`: the next frame's angles written in this frame's Euler branch, so blending never crosses a
    branch. Body-velocity row: [body lin vel, body ang vel | step to the next frame].
    """
    values = torch.cat([body_lin_vel[:, 0], body_ang_vel[:, 0], _flat(body_pos), dof_pos, dof_vel], -1)
    next_values = torch.cat(
        [body_lin_vel[nxt, 0], body_ang_vel[nxt, 0], _flat(body_pos[nxt]), dof_pos_next, dof_vel[nxt]], -1
    )
    rot_next = body_rot[nxt]
    cos = (body_rot * rot_next).sum(-1)
    rot_next = torch.where(cos.unsqueeze(-1) < 0, -rot_next, rot_next)
    angle_over_pi = torch.acos(cos.abs().clamp(max=1.0)) / torch.pi
    query_table = torch.cat(
        [values, next_values - values, _flat(body_rot), _flat(rot_next), angle_over_pi, 1 / torch.sinc(angle_over_pi)],
        -1,
    )
    vel = torch.cat([_flat(body_lin_vel), _flat(body_ang_vel)], -1)
    return query_table, torch.cat([vel, vel[nxt] - vel], -1)


def root_state_columns(num_bodies: int, num_dofs: int) -> torch.Tensor:
    """Columns of the query table that describe only the root and the DoFs, in the same layout with one body."""
    b, d = num_bodies, num_dofs
    width = 6 + 3 * b + 2 * d
    values = list(range(0, 9)) + list(range(6 + 3 * b, width))  # root vels, root pos, dof pos, dof vel
    rot = 2 * width
    return torch.tensor(
        values
        + [width + c for c in values]  # their steps to the next frame
        + list(range(rot, rot + 4))  # root rotation
        + list(range(rot + 4 * b, rot + 4 * b + 4))  # next root rotation
        + [rot + 8 * b, rot + 9 * b]  # root slerp angle and 1/sinc
    )


def compute_slerp_terms(
    q0: torch.Tensor, q1: torch.Tensor, angle_over_pi: torch.Tensor, inv_sinc: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """slerp(q0, q1, t) = [sin((1-t)a) q0 + sin(t a) q1] / sin(a), written with sinc so a -> 0 needs no branch.

    q1 is on q0's hemisphere; angle_over_pi = a / pi and inv_sinc = 1 / sinc(a / pi) (B,) per pair; t (N, 1).
    """
    w0 = (1.0 - t) * torch.sinc((1.0 - t) * angle_over_pi) * inv_sinc
    w1 = t * torch.sinc(t * angle_over_pi) * inv_sinc
    return torch.addcmul(w0.unsqueeze(-1) * q0, w1.unsqueeze(-1), q1)


def compute_frame_blend(
    times: torch.Tensor,
    lengths: torch.Tensor,
    fps: torch.Tensor,
    num_frames: torch.Tensor,
    start_idx: torch.Tensor,
    wrapping: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Global index of the frame at or before each time, the blend weight towards the next, the completed cycles.

    WRAP clips: t -> t - k * length with k = floor(t / length) cycles; CLAMP clips: t is clamped to [0, length].
    The last frame of a clip is its own next frame, so its blend weight does not matter.
    """
    cycles = torch.where(wrapping, torch.floor(times / lengths), torch.zeros_like(times))
    local_time = (times - cycles * lengths).clamp(min=0.0).minimum(lengths)
    frame = local_time * fps
    index = frame.long().minimum(num_frames - 1)
    blend = (frame - index).clamp(0.0, 1.0)
    return start_idx + index, blend, cycles


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def load_motion_entries(motion_file: str) -> list[MotionEntry]:
    """The clips named by `motion_file`: itself if it is a clip, else the list of a dataset YAML."""
    try:
        path = resolve_path(motion_file, "motion file")
    except FileNotFoundError:
        raise motion_not_found(motion_file) from None
    if path.suffix not in _DATASET_SUFFIXES:
        return [MotionEntry(str(path), 1.0)]
    data = _read_dataset(path)
    motions = data.get("motions") if isinstance(data, dict) else None
    if not isinstance(motions, list) or not motions:
        raise ValueError(f"{path}: a dataset needs a non-empty list 'motions: [{{file: ..., weight: ...}}]'")
    entries = [_parse_entry(item, path, i) for i, item in enumerate(motions)]
    if sum(e.weight for e in entries) <= 0:
        raise ValueError(f"{path}: the motion weights sum to zero")
    return entries


def _read_dataset(path: Path) -> object:
    """Parse a dataset YAML; yaml's own errors name no file, so a syntax error is re-raised naming it."""
    with path.open() as stream:  # read as a stream, the parser's line/column marks name the file too
        try:
            return yaml.safe_load(stream)
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not a valid dataset YAML: {e}") from None


def _parse_entry(item: object, dataset: Path, index: int) -> MotionEntry:
    where = f"{dataset}: motions[{index}]"
    if not isinstance(item, dict) or "file" not in item:
        raise ValueError(f"{where} must be a mapping with a 'file' key, got {item!r}")
    unknown = set(item) - _ENTRY_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)} (known: {sorted(_ENTRY_KEYS)})")
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise ValueError(f"{where}: weight must be a finite number >= 0, got {weight!r}")
    file = Path(item["file"])
    return MotionEntry(str(file if file.is_absolute() else dataset.parent / file), float(weight))


def _load_entry(entry: MotionEntry, character: KinematicCharacter, motion_file: str) -> Motion:
    """Load and check one clip; a missing clip names the dataset that lists it too."""
    try:
        motion = load_motion(entry.file, frame_dim=character.frame_dim)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{motion_file}: {e}") from None
    check_plausible(motion, character, entry.file)
    return motion


def check_plausible(motion: Motion, character: KinematicCharacter, source: str) -> None:
    """Refuse a clip whose root or joints move beyond the MAX_* bounds, naming `source`, the frame and the value."""
    frames = torch.as_tensor(motion.frames, dtype=torch.float64)
    root_pos = frames[:, :ROOT_POS_DIM]
    _check_bound(source, "root position", "m", root_pos.norm(dim=-1, keepdim=True), MAX_ROOT_POS, first_frame=0)
    fps = motion.fps
    root_speed = root_pos.diff(dim=0).norm(dim=-1, keepdim=True) * fps
    _check_bound(source, "root speed", "m/s", root_speed, MAX_ROOT_SPEED)
    root_ang_speed = _rotation_steps(frames[:, ROOT_POS_DIM:ROOT_DIM]).unsqueeze(-1) * fps
    _check_bound(source, "root angular speed", "rad/s", root_ang_speed, MAX_ROOT_ANG_SPEED)
    steps, names = _joint_steps(frames, character)
    _check_bound(source, "angular speed", "rad/s", steps * fps, MAX_JOINT_ANG_SPEED, [f"{n} joint " for n in names])


def _joint_steps(frames: torch.Tensor, character: KinematicCharacter) -> tuple[torch.Tensor, list[str]]:
    """(N - 1, joints) rotation of each moving joint between consecutive frames, and the joints' body names.

    3-DoF joints: the angle of the relative rotation (an exp map jumps when it wraps at pi, the pose does not);
    hinges: the plain angle difference (a clip's hinge angle does not wrap)."""
    steps, names = [], []
    for joint in character.joints:
        col = ROOT_DIM + joint.dof_start
        if joint.joint_type == JointType.SPHERICAL:
            steps.append(_rotation_steps(frames[:, col : col + 3]))
        elif joint.joint_type == JointType.HINGE:
            steps.append(frames[:, col].diff().abs())
        else:
            continue
        names.append(joint.body)
    return (torch.stack(steps, dim=-1) if steps else frames.new_zeros(len(frames) - 1, 0)), names


def _rotation_steps(exp_maps: torch.Tensor) -> torch.Tensor:
    """(N - 1,) angle of the rotation from each frame's exp map to the next."""
    quats = rot.exp_map_to_quat(exp_maps)
    return rot.quat_diff_angle(quats[1:], quats[:-1])


def _check_bound(
    source: str,
    what: str,
    unit: str,
    values: torch.Tensor,
    bound: float,
    labels: list[str] | None = None,
    first_frame: int = 1,
) -> None:
    """Raise at the first of `values` (rows, columns) over `bound`, naming the frame and the value.

    labels: a prefix of `what` per column; first_frame: the frame of row 0 (1 for a difference between frames,
    which is put on the later frame, where a jump shows)."""
    over = (values > bound).nonzero()
    if over.numel():
        row, col = over[0].tolist()
        label = labels[col] if labels else ""
        value = values[row, col].item()
        raise MotionFormatError(
            f"{source}: {label}{what} {value:.3g} {unit} at frame {row + first_frame} exceeds {bound:g} {unit}"
        )
