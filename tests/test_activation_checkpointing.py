"""`train.activation_checkpointing`: layers recompute their activations in backward, with the same results."""

import collections
import dataclasses

import pytest
import torch
from core_helpers import random_batch
from torch.utils._python_dispatch import TorchDispatchMode

from electra.models import Electra, ElectraConfig
from electra.objectives import ObjectiveConfig, ReplacedTokenDetection
from electra.recipes.pretrain.config import PretrainConfig
from electra.recipes.pretrain.memory import step_bytes
from electra.train.parallel import checkpoint_activations


class CountOps(TorchDispatchMode):
    """How many times each aten op ran while the mode was on."""

    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _loss_and_grads(config: ElectraConfig, recompute: bool | str, compile: bool = False):
    """Loss, gradients, feed-forward calls, parameter names, and the ops backward ran."""
    torch.manual_seed(0)
    model = Electra(config)
    objective = ReplacedTokenDetection(model.generator, model.discriminator, [0, 1, 2, 3], 4, ObjectiveConfig())
    if recompute:
        checkpoint_activations(model.parallel_blocks(), selective=recompute == "selective")
    calls = []
    model.discriminator.encoder.layers[0].feed_forward.register_forward_hook(lambda *a: calls.append(1))
    ids, mask = random_batch(4, 24, config.discriminator.vocab_size, pad_from=[24, 20, 13, 24])
    torch.manual_seed(1)
    out = (torch.compile(objective) if compile else objective)(ids, mask.long(), torch.zeros_like(ids))
    with CountOps() as backward_ops:
        out["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(out["loss"].detach()), grads, len(calls), list(model.state_dict()), backward_ops.counts


def test_recomputed_layers_give_the_same_loss_and_gradients(tiny_encoder_config):
    """With dropout on: the recomputation draws the same dropout masks, so the gradients are those of the
    stored activations; the layer's feed-forward really runs twice; parameter names do not change."""
    enc = dataclasses.replace(tiny_encoder_config, dropout=0.1, attention_dropout=0.1)
    config = ElectraConfig(enc, generator_multiplier=0.5)
    loss, grads, calls, keys, _ = _loss_and_grads(config, recompute=False)
    loss_r, grads_r, calls_r, keys_r, _ = _loss_and_grads(config, recompute=True)
    assert (calls, calls_r) == (1, 2)
    assert keys == keys_r
    assert loss_r == loss
    assert grads.keys() == grads_r.keys()
    for name in grads:
        torch.testing.assert_close(grads_r[name], grads[name], rtol=1e-5, atol=1e-7, msg=name)


def test_selective_recomputation_redoes_the_cheap_ops_not_the_products_nor_the_dropout(tiny_encoder_config):
    """``selective``: backward runs LayerNorm and GELU again but not one more linear layer's product than
    without recomputation (full recomputation runs them all again), and, dropout on, the same loss and
    gradients: the same masks (on CPU redrawn from the restored RNG state; attention's math path, CPU's with
    dropout, is recomputed too)."""
    enc = dataclasses.replace(tiny_encoder_config, dropout=0.1, attention_dropout=0.1)
    config = ElectraConfig(enc, generator_multiplier=0.5)
    loss, grads, _, keys, plain_ops = _loss_and_grads(config, recompute=False)
    loss_s, grads_s, _, keys_s, selective_ops = _loss_and_grads(config, recompute="selective")
    full_ops = _loss_and_grads(config, recompute="full")[4]
    products = ("mm", "addmm")
    assert sum(selective_ops[op] for op in products) == sum(plain_ops[op] for op in products)
    assert sum(full_ops[op] for op in products) > sum(plain_ops[op] for op in products)
    assert plain_ops["gelu"] == plain_ops["native_layer_norm"] == 0
    assert selective_ops["gelu"] >= 4 and selective_ops["native_layer_norm"] >= 8  # 2 + 2 layers' worth
    assert keys_s == keys and loss_s == loss
    for name in grads:
        torch.testing.assert_close(grads_s[name], grads[name], rtol=1e-5, atol=1e-7, msg=name)


def test_selective_recomputation_compiles_to_the_same_gradients(tiny_encoder_config, fallback_random):
    enc = dataclasses.replace(tiny_encoder_config, dropout=0.1, attention_dropout=0.1)
    config = ElectraConfig(enc, generator_multiplier=0.5)
    loss, grads, *_ = _loss_and_grads(config, recompute=False, compile=True)
    loss_s, grads_s, *_ = _loss_and_grads(config, recompute="selective", compile=True)
    assert loss_s == pytest.approx(loss, rel=1e-5)
    for name in grads:
        torch.testing.assert_close(grads_s[name], grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_memory_bound_counts_recomputed_layers_as_their_inputs():
    cfg = PretrainConfig()
    cfg.model.num_layers, cfg.data.max_seq_length = 24, 512
    kept = step_bytes(cfg, 32, torch.device("cuda"))
    cfg.train.activation_checkpointing = True
    recomputed = step_bytes(cfg, 32, torch.device("cuda"))
    assert recomputed < kept / 4


def test_pretraining_with_recomputed_layers_logs_the_same_losses(tmp_path):
    """Through `electra pretrain` (the tiny preset's dropout on): the option reaches the layers and changes
    nothing but memory and time."""
    from test_pretrain import micro_config, write_corpus

    from electra.recipes.pretrain import run as pretrain_mod
    from electra.train.metrics import read_metrics

    corpus = write_corpus(tmp_path / "c.txt", n_docs=40)
    rows = []
    for name, option in (("kept", "activation_checkpointing"), ("recomputed", "activation_checkpointing"),
                         ("selective", "selective_checkpointing")):  # fmt: skip
        cfg = micro_config(corpus, tmp_path / name, 3, f"--train.{option}", str(name != "kept").lower())
        pretrain_mod.pretrain(cfg, progress=False)
        rows.append([r["loss"] for r in read_metrics(tmp_path / name / "metrics.jsonl")])
    assert len(rows[0]) == 3 and rows[0] == rows[1] == rows[2]
