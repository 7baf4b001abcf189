import pytest
import torch

from mimickit.agents.replay_buffer import ReplayBuffer


def _rows(start: int, n: int) -> torch.Tensor:
    """(n, 2) rows with distinct values, row i = [start + i, -(start + i)]."""
    v = torch.arange(start, start + n, dtype=torch.float32)
    return torch.stack([v, -v], dim=1)


def _pairs(start: int, n: int) -> dict[str, torch.Tensor]:
    agent = _rows(start, n)
    return {"agent": agent, "demo": agent[:, :1] + 1000.0}


def _ids(buf: ReplayBuffer) -> set[int]:
    return {int(v) for v in buf.fields["agent"][: len(buf), 0]}


def test_keeps_every_sample_until_full():
    torch.manual_seed(0)
    buf = ReplayBuffer(10, {"agent": 2, "demo": (1,)}, num_replace=3, overwrite="random")
    buf.add(_pairs(1, 4))
    buf.add(_pairs(5, 4))
    assert len(buf) == 8 and not buf.full
    assert torch.equal(buf.fields["agent"][:8], _rows(1, 8))
    buf.add(_pairs(100, 5))  # only 2 of 5 fit: a random 2 of them, the first 8 rows untouched
    assert len(buf) == 10 and buf.full
    assert torch.equal(buf.fields["agent"][:8], _rows(1, 8))
    assert len(_ids(buf) & set(range(100, 105))) == 2


def test_oldest_is_a_ring_that_overwrites_the_oldest_samples():
    """MimicKit's ExperienceBuffer.push: a batch that does not fit wraps over the oldest rows, and once full each add
    writes num_replace random rows of its batch over the oldest ones, so no sample outlives capacity / num_replace
    adds (random slots keep some for far longer)."""
    torch.manual_seed(0)
    buf = ReplayBuffer(10, {"agent": 2, "demo": 1}, num_replace=3, overwrite="oldest")
    buf.add(_pairs(1, 6))
    assert len(buf) == 6 and not buf.full
    buf.add(_pairs(101, 6))  # all 6 go in: 4 at the end, 2 over the oldest (1 and 2)
    assert buf.full
    assert torch.equal(buf.fields["agent"], torch.cat([_rows(105, 2), _rows(3, 4), _rows(101, 4)]))
    torch.testing.assert_close(buf.fields["demo"][:, 0], buf.fields["agent"][:, 0] + 1000.0)
    buf.add(_pairs(201, 5))  # full: 3 random rows of the 5 over the oldest slots 2, 3, 4 (samples 3, 4, 5)
    kept = _ids(buf)
    assert len(kept & set(range(201, 206))) == 3 and kept >= {6, 101, 102, 103, 104, 105, 106}
    assert not kept & {3, 4, 5}
    for start in range(300, 1000, 100):  # 7 more adds of 3: every sample older than 10 / 3 adds is gone
        buf.add(_pairs(start, 3))
    assert _ids(buf) <= set(range(700, 703)) | set(range(800, 803)) | set(range(900, 903)) | set(range(600, 603))


def test_oldest_ring_head_survives_the_state_dict():
    torch.manual_seed(0)
    buf = ReplayBuffer(4, {"agent": 2, "demo": 1}, num_replace=1, overwrite="oldest")
    buf.add(_pairs(1, 3))
    buf.add(_pairs(4, 2))  # 5 wraps onto slot 0: the head is at 1
    restored = ReplayBuffer(4, {"agent": 2, "demo": 1}, num_replace=1, overwrite="oldest")
    restored.load_state_dict(buf.state_dict())
    restored.add(_pairs(50, 1))
    assert torch.equal(restored.fields["agent"][:, 0], torch.tensor([5.0, 50.0, 3.0, 4.0]))


def test_once_full_replaces_exactly_num_replace_slots_with_batch_rows():
    torch.manual_seed(0)
    buf = ReplayBuffer(10, {"agent": 2, "demo": 1}, num_replace=3, overwrite="random")
    buf.add(_pairs(1, 10))
    before = buf.fields["agent"].clone()
    buf.add(_pairs(100, 6))
    changed = (buf.fields["agent"] != before).any(dim=1)
    assert int(changed.sum()) == 3
    assert len(_ids(buf) & set(range(100, 106))) == 3 and len(_ids(buf)) == 10
    buf.add(_pairs(200, 2))  # fewer rows than num_replace: all of them go in
    assert len(_ids(buf) & {200, 201}) == 2 and len(buf) == 10


def test_samples_only_filled_rows_and_keeps_pairs_aligned():
    torch.manual_seed(0)
    buf = ReplayBuffer(100, {"agent": 2, "demo": 1}, num_replace=4, overwrite="random")
    buf.add(_pairs(1, 5))
    batch = buf.sample(1000)
    assert batch["agent"].shape == (1000, 2) and batch["demo"].shape == (1000, 1)
    assert set(batch["agent"][:, 0].tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}  # never an empty (zero) slot
    small = ReplayBuffer(6, {"agent": 2, "demo": 1}, num_replace=4, overwrite="random")
    for start in range(0, 100, 7):
        small.add(_pairs(start, 7))
    batch = small.sample(500)
    torch.testing.assert_close(batch["demo"][:, 0], batch["agent"][:, 0] + 1000.0)
    torch.testing.assert_close(batch["agent"][:, 1], -batch["agent"][:, 0])


def test_state_dict_round_trip():
    torch.manual_seed(0)
    buf = ReplayBuffer(10, {"agent": 2, "demo": 1}, num_replace=3, overwrite="random")
    buf.add(_pairs(1, 6))
    state = buf.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values()) and state["agent"].shape == (6, 2)
    restored = ReplayBuffer(10, {"agent": 2, "demo": 1}, num_replace=3, overwrite="random")
    restored.load_state_dict(state)
    assert len(restored) == 6
    for name in ("agent", "demo"):
        assert torch.equal(restored.fields[name][:6], buf.fields[name][:6])
    restored.add(_pairs(50, 4))  # continues filling where the saved buffer stopped
    assert restored.full and torch.equal(restored.fields["agent"][6:], _rows(50, 4))


def test_wrong_fields_or_shapes_are_rejected():
    buf = ReplayBuffer(10, {"agent": 2, "demo": 1}, num_replace=3, overwrite="random")
    with pytest.raises(ValueError, match="fields"):
        buf.add({"agent": torch.zeros(3, 2)})
    with pytest.raises(ValueError, match="shapes"):
        buf.add({"agent": torch.zeros(3, 2), "demo": torch.zeros(4, 1)})
    with pytest.raises(ValueError, match="shapes"):
        buf.add({"agent": torch.zeros(3, 3), "demo": torch.zeros(3, 1)})
    with pytest.raises(RuntimeError, match="empty"):
        buf.sample(1)
    with pytest.raises(ValueError, match="capacity"):
        buf.load_state_dict({"agent": torch.zeros(11, 2), "demo": torch.zeros(11, 1), "num_filled": torch.tensor(11),
                             "head": torch.tensor(0)})
    with pytest.raises(ValueError, match="overwrite"):
        ReplayBuffer(10, {"agent": 2}, num_replace=3, overwrite="newest")
