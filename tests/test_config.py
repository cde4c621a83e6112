import dataclasses

import pytest

from electra.core.errors import ElectraError
from electra.models import ElectraConfig, EncoderConfig
from electra.recipes.pretrain.config import PRESETS, ModelSection, build_config, config_from_dict, parse_overrides


def test_presets_match_the_paper():
    small, base, large = build_config("small"), build_config("base"), build_config("large")
    assert (small.model.hidden_size, small.model.num_layers, small.model.embedding_size) == (256, 12, 128)
    assert small.model.generator_multiplier == 0.25 and small.train.lr == 5e-4
    assert (base.model.hidden_size, base.model.num_heads, base.data.max_seq_length) == (768, 12, 512)
    assert base.model.encoder(30528).hidden_size == 768
    assert large.objective.mask_rate == 0.25 and large.model.num_layers == 24
    assert set(PRESETS) == {"tiny", "small", "base", "large", "image-tiny", "image-base"}


def test_image_presets_derive_the_sequence_and_the_grid():
    tiny, base = build_config("image-tiny"), build_config("image-base", None, ["--data.image_labels", "false"])
    assert (tiny.data.max_seq_length, tiny.model.max_position_embeddings, tiny.model.grid_rows) == (197, 197, 14)
    assert (base.data.max_seq_length, base.model.grid_cols, base.model.type_vocab_size) == (784, 28, 0)
    assert tiny.objective.mask_schedule == "cosine" and tiny.objective.mask_token_prob == 1.0
    with pytest.raises(ElectraError, match=r"model.grid_rows"):
        build_config("tiny", None, ["--model.grid_rows", "4", "--model.grid_cols", "4"])
    with pytest.raises(ElectraError, match=r"objective.mask_schedule"):
        build_config("tiny", None, ["--objective.mask_schedule", "linear"])
    with pytest.raises(ElectraError, match=r"objective.disc_labels.*generated only with objective.kind electra"):
        build_config("tiny", None, ["--objective.kind", "mlm", "--objective.disc_labels", "generated"])


def test_overrides_take_precedence_and_are_typed(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 50\n  lr: 0.001\n")
    cfg = build_config("tiny", f, ["--train.steps", "7", "--data.corpus=a.txt", "--model.norm_first", "true"])
    assert cfg.train.steps == 7 and cfg.train.lr == 0.001
    assert cfg.data.corpus == ["a.txt"] and cfg.model.norm_first is True


def test_unknown_key_suggests_nearest():
    with pytest.raises(ElectraError, match=r"unknown config key 'train.stepz'.*did you mean 'train.steps'"):
        build_config(None, None, ["--train.stepz", "3"])
    with pytest.raises(ElectraError, match=r"unknown config section 'trian'.*'train'"):
        build_config(None, None, ["--trian.steps", "3"])


def test_wrong_type_and_out_of_range():
    with pytest.raises(ElectraError, match="train.steps has the wrong type"):
        build_config(None, None, ["--train.steps", "many"])
    with pytest.raises(ElectraError, match=r"out of range: model.num_heads = 5 \(must divide"):
        build_config(None, None, ["--model.num_heads", "5"])
    with pytest.raises(ElectraError, match="train.lr"):
        build_config(None, None, ["--train.lr", "0"])
    assert build_config(None, None, ["--train.lr", "2e-3"]).train.lr == 0.002  # YAML 1.1 string


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ElectraError, match="config file not found"):
        build_config(None, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ElectraError, match="not valid YAML"):
        build_config(None, bad)


def test_mlm_gets_bert_masking_unless_set():
    cfg = build_config("tiny", None, ["--objective.kind", "mlm"])
    assert (cfg.objective.mask_token_prob, cfg.objective.random_token_prob) == (0.8, 0.1)
    cfg = build_config("tiny", None, ["--objective.kind", "mlm", "--objective.random_token_prob", "0"])
    assert cfg.objective.random_token_prob == 0.0
    assert build_config("tiny").objective.mask_token_prob == 0.85


def test_round_trip_through_dict():
    cfg = build_config("base", None, ["--train.steps", "9"])
    assert config_from_dict(cfg.to_dict()) == cfg


def test_parse_overrides_errors():
    with pytest.raises(ElectraError, match="needs a value"):
        parse_overrides(["--train.steps"])
    with pytest.raises(ElectraError, match="unexpected argument"):
        parse_overrides(["steps"])


def test_model_section_mirrors_the_encoder_config():
    """ModelSection repeats EncoderConfig's fields (less the tokenizer's vocab_size and pad_token_id) to keep
    the YAML / --model.key section flat: the two must list the same fields with the same defaults."""
    section = {f.name: f.default for f in dataclasses.fields(ModelSection)}
    encoder = {f.name: f.default for f in dataclasses.fields(EncoderConfig)}
    assert section.pop("generator_multiplier") == ElectraConfig().generator_multiplier
    assert section.pop("embedding_sharing") == ElectraConfig().embedding_sharing
    assert section == {k: v for k, v in encoder.items() if k not in ("vocab_size", "pad_token_id")}


def test_short_warmup_without_bias_correction_is_warned_about():
    """Warm-up far below Adam's 1/(1-beta2) horizon without bias correction collapsed the tiny preset."""
    cfg = build_config("tiny", None, ["--train.warmup_steps", "100"])
    (warning,) = cfg.warnings()
    assert "train.warmup_steps = 100" in warning and "3.2x" in warning
    corrected = ["--train.warmup_steps", "100", "--train.bias_correction", "true"]
    assert build_config("tiny", None, corrected).warnings() == []
    assert build_config("tiny", None, []).warnings() == []
    assert build_config("small", None, []).warnings() == []
