"""`train.activation_checkpointing`: layers recompute their activations in backward, with the same results."""

import dataclasses

import torch
from core_helpers import random_batch

from electra.models import Electra, ElectraConfig
from electra.objectives import ObjectiveConfig, ReplacedTokenDetection
from electra.recipes.pretrain.config import PretrainConfig
from electra.recipes.pretrain.memory import step_bytes
from electra.train.parallel import checkpoint_activations


def _loss_and_grads(config: ElectraConfig, recompute: bool):
    torch.manual_seed(0)
    model = Electra(config)
    objective = ReplacedTokenDetection(model.generator, model.discriminator, [0, 1, 2, 3], 4, ObjectiveConfig())
    if recompute:
        checkpoint_activations(model.parallel_blocks())
    calls = []
    model.discriminator.encoder.layers[0].feed_forward.register_forward_hook(lambda *a: calls.append(1))
    ids, mask = random_batch(4, 24, config.discriminator.vocab_size, pad_from=[24, 20, 13, 24])
    torch.manual_seed(1)
    out = objective(ids, mask.long(), torch.zeros_like(ids))
    out["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(out["loss"].detach()), grads, len(calls), list(model.state_dict())


def test_recomputed_layers_give_the_same_loss_and_gradients(tiny_encoder_config):
    """With dropout on: the recomputation draws the same dropout masks, so the gradients are those of the
    stored activations; the layer's feed-forward really runs twice; parameter names do not change."""
    enc = dataclasses.replace(tiny_encoder_config, dropout=0.1, attention_dropout=0.1)
    config = ElectraConfig(enc, generator_multiplier=0.5)
    loss, grads, calls, keys = _loss_and_grads(config, recompute=False)
    loss_r, grads_r, calls_r, keys_r = _loss_and_grads(config, recompute=True)
    assert (calls, calls_r) == (1, 2)
    assert keys == keys_r
    assert loss_r == loss
    assert grads.keys() == grads_r.keys()
    for name in grads:
        torch.testing.assert_close(grads_r[name], grads[name], rtol=1e-5, atol=1e-7, msg=name)


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
    for name, flag in (("kept", "false"), ("recomputed", "true")):
        cfg = micro_config(corpus, tmp_path / name, 3, "--train.activation_checkpointing", flag)
        pretrain_mod.pretrain(cfg, progress=False)
        rows.append([r["loss"] for r in read_metrics(tmp_path / name / "metrics.jsonl")])
    assert len(rows[0]) == 3 and rows[0] == rows[1]
