"""The paper's ablations as options: each test fails if its mechanism is wired wrong.

ELECTRA 15% (discriminator loss on the masked positions only), the adversarial generator (REINFORCE),
Replace MLM, All-Tokens MLM (copy mechanism), separate embeddings and DeBERTa-v3's gradient-disentangled
embedding sharing (GDES).
"""

import json

import pytest
import torch
import torch.nn.functional as F
from core_helpers import random_batch
from test_pretrain import micro_config, write_corpus

from electra.core.errors import ElectraError
from electra.models import CopyMaskedLM, Electra, ElectraConfig, MaskedLM, ReplaceMLMConfig, ReplaceMLMPair
from electra.nn import Embeddings, GradientDisentangledEmbeddings
from electra.objectives import ObjectiveConfig, ReplacedTokenDetection, ReplaceMLM, copy_mlm_nll
from electra.recipes.finetune.loading import load_base_encoder
from electra.recipes.pretrain import run as pretrain_mod
from electra.recipes.pretrain.config import build_config

NEVER = [0, 2, 3, 4]
MASK_ID = 4


def _rtd(cfg, **kw):
    torch.manual_seed(0)
    model = Electra(cfg)
    return model, ReplacedTokenDetection(model.generator, model.discriminator, NEVER, MASK_ID, ObjectiveConfig(**kw))


def _keep_outputs(module, monkeypatch, store, key):
    """Wrap ``module.forward`` so its output is kept in ``store[key]`` with its gradient retained."""
    real = module.forward

    def spy(*a, **k):
        out = real(*a, **k)
        for t in out if isinstance(out, tuple) else (out,):
            t.retain_grad()
        store[key] = out
        store[key + "_input"] = a[0].clone()
        store[key + "_positions"] = k.get("positions")
        return out

    monkeypatch.setattr(module, "forward", spy)


def test_electra_15_percent_learns_only_from_masked_positions(tiny_electra_config, monkeypatch):
    """disc_positions=masked: the discriminator's loss (and so its gradient) covers the used masked slots
    only; with the default every real token carries gradient."""
    ids, mask = random_batch(4, 24, 101, pad_from=[24, 20, 16, 12])
    grads = {}
    for scope in ("all", "masked"):
        _, obj = _rtd(tiny_electra_config, disc_positions=scope)
        seen = {}
        _keep_outputs(obj.discriminator, monkeypatch, seen, "disc")
        _keep_outputs(obj.generator, monkeypatch, seen, "gen")
        torch.manual_seed(5)
        out = obj(ids, mask)
        out["loss"].backward()
        grads[scope] = seen["disc"].grad
        pos = seen["gen_positions"]
        n_used = [max(1, min(pos.shape[1], round(int(m.sum()) * 0.15))) for m in mask]
        slots = torch.zeros_like(mask)
        for i, n in enumerate(n_used):
            slots[i, pos[i, :n]] = True
        labels = (seen["disc_input"] != ids).float()
        where = mask if scope == "all" else slots
        expected = F.binary_cross_entropy_with_logits(seen["disc"].detach().float()[where], labels[where])
        torch.testing.assert_close(out["disc_loss"], expected, atol=1e-6, rtol=1e-5)
    assert (grads["masked"][~slots] == 0).all() and (grads["masked"][slots] != 0).all()
    assert (grads["all"][mask & ~slots] != 0).all()  # the default learns from the unmasked tokens too


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_adversarial_generator_gradient_has_the_reinforce_form(tiny_electra_config, monkeypatch, temperature):
    """generator_training=adversarial: the gradient reaching the generator's logits is
    -w (R - b) (onehot(sample) - softmax(z / T)) / T / sum(w), R the discriminator's per-token loss at the
    slot, b its mean over used slots; no maximum-likelihood gradient at all."""
    ids, mask = random_batch(4, 24, 101, pad_from=[24, 22, 18, 14])
    _, obj = _rtd(tiny_electra_config, generator_training="adversarial", temperature=temperature)
    seen = {}
    _keep_outputs(obj.discriminator, monkeypatch, seen, "disc")
    _keep_outputs(obj.generator, monkeypatch, seen, "gen")
    torch.manual_seed(7)
    out = obj(ids, mask)
    out["loss"].backward()
    z, pos, disc_in = seen["gen"], seen["gen_positions"], seen["disc_input"]
    n_used = [max(1, min(pos.shape[1], round(int(m.sum()) * 0.15))) for m in mask]
    w = torch.tensor([[1.0 if j < n else 0.0 for j in range(pos.shape[1])] for n in n_used])
    sample = disc_in.gather(1, pos)
    labels = (disc_in != ids).float()
    per_token = F.binary_cross_entropy_with_logits(seen["disc"].detach().float(), labels, reduction="none")
    reward = per_token.gather(1, pos)
    baseline = (reward * w).sum() / w.sum()
    p = F.softmax(z.detach().float() / temperature, -1)
    expected = -(w * (reward - baseline))[..., None] * (F.one_hot(sample, 101).float() - p) / temperature / w.sum()
    torch.testing.assert_close(z.grad, expected, atol=1e-6, rtol=1e-4)
    # maximum likelihood would push every used slot's target up: its gradient is a different tensor
    _, mle = _rtd(tiny_electra_config)
    seen_mle = {}
    _keep_outputs(mle.generator, monkeypatch, seen_mle, "gen")
    torch.manual_seed(7)
    mle(ids, mask)["loss"].backward()
    assert not torch.allclose(seen_mle["gen"].grad, expected, atol=1e-4)


def test_adversarial_and_15_percent_need_the_electra_objective():
    for key, value in (("objective.generator_training", "adversarial"), ("objective.disc_positions", "masked")):
        with pytest.raises(ElectraError, match=key.replace(".", r"\.")):
            build_config("tiny", None, [f"--{key}", value, "--objective.kind", "mlm"])
    with pytest.raises(ElectraError, match="objective.kind"):
        build_config("tiny", None, ["--objective.kind", "bert"])


def _pair(cfg, copy: bool, **kw):
    torch.manual_seed(0)
    model = ReplaceMLMPair(ReplaceMLMConfig(cfg.discriminator, cfg.generator_multiplier, copy_mechanism=copy))
    kind = "all-tokens-mlm" if copy else "replace-mlm"
    return model, ReplaceMLM(model.generator, model.main, NEVER, MASK_ID, ObjectiveConfig(kind=kind, **kw))


class CertainGenerator(torch.nn.Module):
    """Always proposes token 7 at every slot."""

    def forward(self, masked_ids, attention_mask, token_type_ids=None, positions=None):
        return F.one_hot(torch.full_like(positions, 7), 101).float() * 1e4


def test_replace_mlm_reads_generator_samples_and_predicts_the_masked_originals(tiny_electra_config, monkeypatch):
    """Replace MLM: the main model never sees [MASK] but the generator's samples at the used slots, and its
    loss is the masked-LM loss of the original tokens at those slots (weights, not N)."""
    ids, mask = random_batch(4, 24, 101, pad_from=[24, 20, 12, 8])
    model, obj = _pair(tiny_electra_config, copy=False)
    assert isinstance(model.main, MaskedLM) and model.main.config.hidden_size == 32
    obj.generator = CertainGenerator()
    seen = {}
    _keep_outputs(obj.main, monkeypatch, seen, "main")
    out = obj(ids, mask)
    main_in, pos = seen["main_input"], seen["main_positions"]
    n_used = [max(1, min(pos.shape[1], round(int(m.sum()) * 0.15))) for m in mask]
    used = torch.tensor([[j < n for j in range(pos.shape[1])] for n in n_used])
    assert (main_in.gather(1, pos)[used] == 7).all() and not (main_in == MASK_ID).any()
    slots = torch.zeros_like(mask).scatter(1, pos, used)
    assert torch.equal(main_in[~slots], ids[~slots])
    nll = F.cross_entropy(seen["main"].detach().float()[used], ids.gather(1, pos)[used])
    torch.testing.assert_close(out["main_loss"], nll, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["loss"], out["mlm_loss"] + out["main_loss"])


def test_copy_mechanism_probability():
    """-log(D [x = input] + (1 - D) softmax(h)[x]), computed directly."""
    torch.manual_seed(0)
    logits, gate = torch.randn(2, 5, 11), torch.randn(2, 5)
    inputs = torch.randint(0, 11, (2, 5))
    targets = torch.where(torch.rand(2, 5) < 0.5, inputs, torch.randint(0, 11, (2, 5)))
    d = torch.sigmoid(gate)
    p = d * (inputs == targets).float() + (1 - d) * F.softmax(logits, -1).gather(-1, targets[..., None])[..., 0]
    torch.testing.assert_close(copy_mlm_nll(logits, gate, inputs, targets), -p.log())


def test_all_tokens_mlm_loss_covers_every_real_token(tiny_electra_config, monkeypatch):
    ids, mask = random_batch(3, 24, 101, pad_from=[24, 18, 10])
    model, obj = _pair(tiny_electra_config, copy=True)
    assert isinstance(model.main, CopyMaskedLM)
    seen = {}
    _keep_outputs(obj.main, monkeypatch, seen, "main")
    out = obj(ids, mask)
    logits, gate = (t.detach() for t in seen["main"])
    nll = copy_mlm_nll(logits, gate, seen["main_input"], ids)
    torch.testing.assert_close(out["main_loss"], nll[mask].mean())
    out["loss"].backward()
    assert (seen["main"][1].grad[mask] != 0).all()  # every real token's copy gate learns
    assert (seen["main"][1].grad[~mask] == 0).all()


def test_separate_embeddings_share_nothing(tiny_electra_config):
    model = Electra(ElectraConfig(tiny_electra_config.discriminator, 0.5, "separate"))
    gen = {id(p) for p in model.generator.parameters()}
    assert not any(id(p) in gen for p in model.discriminator.parameters())


def test_gdes_stops_the_discriminator_gradient_at_the_generator_table(tiny_electra_config):
    torch.manual_seed(0)
    model = Electra(ElectraConfig(tiny_electra_config.discriminator, 0.5, "gdes"))
    emb_g, emb_d = model.generator.encoder.embeddings, model.discriminator.encoder.embeddings
    assert isinstance(emb_d, GradientDisentangledEmbeddings) and not isinstance(emb_g, GradientDisentangledEmbeddings)
    assert (emb_d.word_embeddings.weight == 0).all()  # residuals start at zero: the generator's table at first
    torch.testing.assert_close(emb_d.word_table(), emb_g.word_embeddings.weight)
    ids, mask = random_batch(2, 16, 101)
    obj = ReplacedTokenDetection(model.generator, model.discriminator, NEVER, MASK_ID, ObjectiveConfig())
    obj(ids, mask)["loss"].backward()  # the full loss trains both tables
    assert emb_g.word_embeddings.weight.grad.abs().sum() > 0 and emb_d.word_embeddings.weight.grad.abs().sum() > 0
    # the discriminator's loss alone reaches the residual table but not the generator's
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    disc_logits = model.discriminator(ids, mask)
    disc_logits.sum().backward()
    assert emb_g.word_embeddings.weight.grad is None and emb_g.position_embeddings.weight.grad is None
    assert emb_d.word_embeddings.weight.grad.abs().sum() > 0
    # the generator's loss alone reaches its own table and not the residual
    model.zero_grad(set_to_none=True)
    model.generator(ids, mask).sum().backward()
    assert emb_d.word_embeddings.weight.grad is None and emb_g.word_embeddings.weight.grad.abs().sum() > 0


def test_gdes_discriminator_stands_alone_for_fine_tuning_and_export(tiny_electra_config):
    torch.manual_seed(0)
    model = Electra(ElectraConfig(tiny_electra_config.discriminator, 0.5, "gdes")).eval()
    with torch.no_grad():
        model.discriminator.encoder.embeddings.word_embeddings.weight.normal_()  # residuals that matter
    ids, mask = random_batch(2, 16, 101)
    encoder = model.transfer_encoder()
    assert type(encoder.embeddings) is Embeddings
    torch.testing.assert_close(encoder(ids, mask), model.discriminator.encoder(ids, mask))


@pytest.mark.parametrize(("kind", "extra", "model_class"), [
    ("electra", ["--objective.disc_positions", "masked"], "Electra"),
    ("electra", ["--objective.generator_training", "adversarial", "--model.embedding_sharing", "gdes"], "Electra"),
    ("replace-mlm", ["--model.embedding_sharing", "separate"], "ReplaceMLMPair"),
    ("all-tokens-mlm", [], "ReplaceMLMPair"),
])  # fmt: skip
def test_each_ablation_pretrains_resumes_and_fine_tunes_from_its_checkpoint(tmp_path, kind, extra, model_class):
    """The command trains each variant, writes a checkpoint that loads back into the same model (and refuses
    to resume under another objective), and fine-tuning starts from its main encoder."""
    corpus = write_corpus(tmp_path / "c.txt", n_docs=40)
    out = tmp_path / "run"
    args = ["--objective.kind", kind, *extra]
    last = pretrain_mod.pretrain(micro_config(corpus, out, 2, *args), progress=False)
    assert last["loss"] == pytest.approx(last["loss"]) and last["loss"] > 0
    ckpt = out / "checkpoint-0000002"
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["model_class"] == model_class
    if kind == "all-tokens-mlm":
        assert meta["model_config"]["copy_mechanism"] is True
    pretrain_mod.pretrain(micro_config(corpus, out, 3, *args), resume=True, progress=False)
    with pytest.raises(ElectraError, match="does not match checkpoint"):
        other = "mlm" if kind != "mlm" else "electra"
        pretrain_mod.pretrain(micro_config(corpus, out, 4, "--objective.kind", other), resume=True, progress=False)
    base = load_base_encoder(out)
    assert base.config.hidden_size == 32 and base.state is not None
    assert not any(".base." in k for k in base.state)
