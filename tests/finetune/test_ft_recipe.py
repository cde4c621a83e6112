"""Layer-wise learning-rate decay groups, per-size defaults and the schedule."""

from __future__ import annotations

import pytest
import torch

from electra.models import EncoderConfig, TaskModel, TaskModelConfig
from electra.recipes.finetune.recipe import (
    build_optimizer,
    default_layer_decay,
    default_lr,
    layerwise_param_groups,
    parameter_depth,
)
from electra.train.optim import recipe_lr, set_lr


def _model(layers: int = 3) -> TaskModel:
    cfg = EncoderConfig(
        vocab_size=50,
        hidden_size=16,
        num_layers=layers,
        num_heads=2,
        intermediate_size=32,
        embedding_size=8,
        max_position_embeddings=32,
    )
    return TaskModel(TaskModelConfig(cfg, "sequence", num_labels=3))


def test_official_depths():
    assert parameter_depth("encoder.embeddings.word_embeddings.weight", 3) == 0
    assert parameter_depth("encoder.projection.weight", 3) == 0  # embedding projection goes with embeddings
    assert parameter_depth("encoder.layers.0.attention.qkv.weight", 3) == 1
    assert parameter_depth("encoder.layers.2.ffn_norm.bias", 3) == 3
    assert parameter_depth("head.out.weight", 3) == 5  # L + 2


def test_layerwise_groups_get_the_right_rates():
    model = _model(layers=3)
    lr, decay = 1e-3, 0.8
    opt = build_optimizer(model, 3, decay)
    set_lr(opt, recipe_lr(10, lr, 10, 20))
    base = lr * (1 - 10 / 20)  # warm-up done, half-way through the linear decay
    rate = {}
    for g in opt.param_groups:
        for name in g["names"]:
            rate[name] = float(g["lr"])
    assert rate["head.out.weight"] == pytest.approx(base)
    assert rate["encoder.layers.2.attention.qkv.weight"] == pytest.approx(base * decay**2)  # top layer: decay^2
    assert rate["encoder.layers.1.attention.qkv.weight"] == pytest.approx(base * decay**3)
    assert rate["encoder.layers.0.ffn_norm.weight"] == pytest.approx(base * decay**4)
    assert rate["encoder.embeddings.word_embeddings.weight"] == pytest.approx(base * decay**5)
    assert rate["encoder.projection.weight"] == pytest.approx(base * decay**5)
    # every trainable parameter is in exactly one group, and weight decay is 0 by default
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert all(g["weight_decay"] == 0 for g in opt.param_groups)


def test_weight_decay_spares_biases_and_norms():
    groups = layerwise_param_groups(_model(1), 1, 0.8, weight_decay=0.01)
    for g in groups:
        for name in g["names"]:
            exempt = "bias" in name or "norm" in name
            assert g["weight_decay"] == (0.0 if exempt else 0.01), name


def test_warmup_then_linear_decay():
    opt = build_optimizer(_model(1), 1, 1.0)
    seen = []
    for s in (0, 5, 10, 55, 100):
        set_lr(opt, recipe_lr(s, 1.0, 10, 100))
        seen.append(float(opt.param_groups[-1]["lr"]))  # the head's group
    assert seen == pytest.approx([0.0, 0.5 * 0.95, 0.9, 0.45, 0.0])


def test_per_size_defaults():
    assert default_lr(EncoderConfig(hidden_size=256)) == 3e-4
    assert default_lr(EncoderConfig(hidden_size=128, num_heads=2)) == 3e-4  # tiny counts as small
    assert default_lr(EncoderConfig(hidden_size=768, num_heads=12)) == 1e-4
    assert default_lr(EncoderConfig(hidden_size=1024, num_heads=16)) == 5e-5
    assert default_layer_decay(EncoderConfig(hidden_size=1024, num_heads=16)) == 0.9
    assert default_layer_decay(EncoderConfig()) == 0.8


def test_classification_head_is_dropout_plus_linear_on_cls():
    model = _model(1).eval()
    assert [type(m).__name__ for m in model.head.children()] == ["Dropout", "Linear"]
    ids = torch.randint(5, 50, (2, 7))
    mask = torch.ones_like(ids, dtype=torch.bool)
    out = model(ids, mask)["logits"]
    hidden = model.encoder(ids, mask)
    assert torch.allclose(out, model.head.out(hidden[:, 0]))
