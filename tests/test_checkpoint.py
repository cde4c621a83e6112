import errno

import pytest
import torch

from electra.core import checkpoint as ck
from electra.core.errors import ElectraError
from electra.models import Electra, ElectraConfig, MaskedLM


def _write(root, step, model, config=None, files=None, trainer_state=None):
    return ck.write_checkpoint(root / ck.checkpoint_name(step), model, config or {}, files, None, trainer_state)


def test_keeps_last_k_and_writes_atomically(tmp_path, tiny_electra_config):
    model = Electra(tiny_electra_config)
    for step in (1, 2, 3, 4):
        _write(tmp_path, step, model, {"x": step}, {"vocab.txt": "a\n"}, {"step": step})
        ck.prune_checkpoints(tmp_path, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint-0000003", "checkpoint-0000004"]
    assert ck.latest_checkpoint(tmp_path).name == "checkpoint-0000004"
    meta = ck.read_config(tmp_path / "checkpoint-0000004")
    assert meta["x"] == 4 and meta["format_version"] == ck.FORMAT_VERSION


def test_prune_never_deletes_a_protected_checkpoint(tmp_path, tiny_electra_config):
    model = Electra(tiny_electra_config)
    first = _write(tmp_path, 1, model)
    for step in (2, 3):
        _write(tmp_path, step, model)
    ck.prune_checkpoints(tmp_path, keep=1, protect=[first])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-0000001", "checkpoint-0000003"]


def test_disk_full_leaves_nothing_half_written(tmp_path, tiny_electra_config, monkeypatch):
    model = Electra(tiny_electra_config)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(ElectraError, match="could not save checkpoint .*No space left on device"):
        _write(tmp_path, 5, model, trainer_state={"step": 5})
    assert list(tmp_path.iterdir()) == []


def test_weights_round_trip_and_shared_tensors(tmp_path, tiny_electra_config):
    torch.manual_seed(0)
    model = Electra(tiny_electra_config)
    path = _write(tmp_path, 1, model)
    other = Electra(tiny_electra_config)
    ck.load_weights(other, path)
    for (n, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), n
    assert other.generator.encoder.embeddings is other.discriminator.encoder.embeddings


def test_mismatched_weights_are_a_clear_error(tmp_path, tiny_electra_config):
    path = _write(tmp_path, 1, Electra(tiny_electra_config))
    bigger = ElectraConfig(tiny_electra_config.discriminator, 1.0)
    with pytest.raises(ElectraError, match="does not fit the model: size mismatch"):
        ck.load_weights(Electra(bigger), path)
    lone = _write(tmp_path, 2, MaskedLM(tiny_electra_config.discriminator))
    with pytest.raises(ElectraError, match=r"does not fit the model: missing \['discriminator\."):
        ck.load_weights(Electra(tiny_electra_config), lone)


def test_trainer_state_refuses_pickled_objects(tmp_path, tiny_electra_config):
    path = _write(tmp_path, 1, Electra(tiny_electra_config), trainer_state={"step": 1})
    assert ck.load_trainer_state(path)["step"] == 1

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, path / "trainer_state.pt")
    with pytest.raises(ElectraError, match="cannot read"):
        ck.load_trainer_state(path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(ElectraError, match="no config.json"):
        ck.read_config(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "other"}')
    with pytest.raises(ElectraError, match="not an electra checkpoint"):
        ck.read_config(tmp_path)
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ElectraError, match="config.json is not valid JSON"):
        ck.read_config(tmp_path)
