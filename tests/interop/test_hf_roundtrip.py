"""ours -> Hugging Face -> ours is exact; save_pretrained / from_pretrained; the export / import CLI."""

from __future__ import annotations

import argparse

import pytest
import torch
from hf_helpers import random_batch, small_config, write_checkpoint

from electra.cli.interop import register
from electra.core.errors import ElectraError
from electra.interop import export_hf, import_hf
from electra.models import Discriminator, Electra, MaskedLM, load_checkpoint


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize(
    "sizes,kind", [((16, 32), "electra"), ((32, 32), "electra"), ((16, 32), "mlm")], ids=["e16", "e32", "mlm"]
)
def test_checkpoint_round_trip_is_exact(tmp_path, tokenizer, sizes, kind):
    cfg = small_config(*sizes, kind=kind)
    _, model = write_checkpoint(tmp_path / "run", cfg, tokenizer, trained=True)
    export_hf(tmp_path / "run", tmp_path / "hf")
    # The export directory itself (discriminator/ + generator/) is accepted by import.
    src = tmp_path / "hf" if kind == "electra" else tmp_path / "hf" / "generator"
    ckpt, report = import_hf(src, tmp_path / "back")
    assert not report.fresh
    pre = load_checkpoint(ckpt)
    assert type(pre.model) is type(model)
    _assert_same_state(model, pre.model)
    assert pre.model.config == model.config
    assert pre.meta["model_class"] == ("Electra" if kind == "electra" else "MaskedLM")
    assert pre.special_ids == load_checkpoint(tmp_path / "run").special_ids
    assert (ckpt / "tokenizer.json").read_text() == tokenizer.to_str(pretty=True)
    # and back out again: the second export equals the first, byte for byte
    export_hf(ckpt, tmp_path / "hf2")
    for role in ("discriminator", "generator") if kind == "electra" else ("generator",):
        for name in ("model.safetensors", "config.json", "vocab.txt", "tokenizer_config.json"):
            assert (tmp_path / "hf" / role / name).read_bytes() == (
                tmp_path / "hf2" / role / name
            ).read_bytes()


def test_save_pretrained_from_pretrained_are_inverses(tmp_path, tokenizer):
    """On the native format: same class, config and weights back; a part of an ELECTRA loads on its own."""
    cfg = small_config(16, 32)
    _, model = write_checkpoint(tmp_path / "run", cfg, tokenizer, trained=True)
    written = model.save_pretrained(tmp_path / "pair", tokenizer=tokenizer)
    assert written == tmp_path / "pair" and (written / "tokenizer.json").is_file()
    back = Electra.from_pretrained(tmp_path / "pair")
    assert back.config == model.config and not back.training
    _assert_same_state(model, back)
    assert back.generator.encoder.embeddings is back.discriminator.encoder.embeddings  # still tied
    _assert_same_state(model.discriminator, Discriminator.from_pretrained(tmp_path / "pair"))
    _assert_same_state(model.generator, MaskedLM.from_pretrained(tmp_path / "pair"))
    # single models, and our own checkpoints / run directories
    model.discriminator.save_pretrained(tmp_path / "disc")
    _assert_same_state(model.discriminator, Discriminator.from_pretrained(tmp_path / "disc"))
    _assert_same_state(model, Electra.from_pretrained(tmp_path / "run"))
    loaded = MaskedLM.from_pretrained(tmp_path / "run")
    ids, mask, types = random_batch(tokenizer.get_vocab_size())
    with torch.no_grad():
        assert torch.equal(loaded(ids, mask.bool(), types), model.generator(ids, mask.bool(), types))
    with pytest.raises(ElectraError, match="holds a Discriminator, which has no Electra"):
        Electra.from_pretrained(tmp_path / "disc")
    # Hugging Face directories are converted explicitly, never read by from_pretrained
    export_hf(tmp_path / "run", tmp_path / "hf")
    with pytest.raises(ElectraError, match="Hugging Face directory: convert it with `electra import`"):
        Discriminator.from_pretrained(tmp_path / "hf" / "discriminator")


def _cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="electra")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


def test_cli_export_and_import(tmp_path, tokenizer, capsys):
    _, model = write_checkpoint(tmp_path / "run", small_config(16, 32), tokenizer)
    _cli(["export", str(tmp_path / "run"), str(tmp_path / "hf"), "--format", "hf"])
    out = capsys.readouterr().out
    assert "ElectraForPreTraining" in out and "ElectraForMaskedLM" in out
    _cli(
        [
            "import",
            str(tmp_path / "hf" / "discriminator"),
            str(tmp_path / "back"),
            "--generator",
            str(tmp_path / "hf" / "generator"),
        ]
    )
    assert "ELECTRA checkpoint" in capsys.readouterr().out
    _assert_same_state(model, load_checkpoint(tmp_path / "back").model)

    _cli(
        [
            "import",
            str(tmp_path / "hf" / "discriminator"),
            str(tmp_path / "disc-only"),
            "--generator-multiplier",
            "0.25",
        ]
    )
    assert "freshly initialised: generator" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "disc-only").model.config.generator_multiplier == 0.25

    with pytest.raises(ElectraError, match="not found"):
        _cli(["import", str(tmp_path / "missing"), str(tmp_path / "x")])
    with pytest.raises(SystemExit):
        _cli(["export", str(tmp_path / "run"), str(tmp_path / "y"), "--format", "onnx"])
