import pytest
import torch
import torch.nn.functional as F
from core_helpers import random_batch

from electra.models import Electra, MaskedLM
from electra.objectives import MaskedLanguageModeling, ObjectiveConfig, ReplacedTokenDetection
from electra.tokens import gumbel_sample, num_mask_slots

NEVER = [0, 2, 3, 4]


def _objective(cfg, **kw):
    torch.manual_seed(0)
    model = Electra(cfg)
    return model, ReplacedTokenDetection(model.generator, model.discriminator, NEVER, 4, ObjectiveConfig(**kw))


def test_embeddings_are_shared_parameters(tiny_electra_config):
    model, _ = _objective(tiny_electra_config)
    g, d = model.generator.encoder.embeddings, model.discriminator.encoder.embeddings
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings", "layer_norm"):
        for pg, pd in zip(getattr(g, name).parameters(), getattr(d, name).parameters()):
            assert pg is pd
    # the generator's output layer is the word-embedding table itself
    assert model.generator.encoder.embeddings.word_embeddings.weight is d.word_embeddings.weight
    # each network has its own projection (embedding 16 -> hidden 32 / 16)
    assert model.discriminator.encoder.projection is not None
    assert model.generator.config.hidden_size == 16 and model.generator.encoder.projection is None
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.startswith("generator.encoder.embeddings") for n in names)  # counted once


def test_generator_is_width_scaled_same_depth(tiny_electra_config):
    model, _ = _objective(tiny_electra_config)
    g, d = model.generator.config, model.discriminator.config
    assert (g.hidden_size, g.intermediate_size, g.num_heads) == (16, 32, 2)
    assert g.num_layers == d.num_layers and g.embedding_size == d.embedding_size


def test_generator_logits_only_at_slots(tiny_electra_config):
    model, _ = _objective(tiny_electra_config)
    ids, mask = random_batch(2, 20, 101)
    pos = torch.tensor([[1, 5, 7], [2, 3, 4]])
    at = model.generator(ids, mask, positions=pos)
    full = model.generator(ids, mask)
    assert at.shape == (2, 3, 101)
    torch.testing.assert_close(at, full.gather(1, pos[..., None].expand(-1, -1, 101)))


def _spy(obj, monkeypatch):
    """Record what the objective gave its generator and discriminator and what they returned."""
    seen = {}
    gen_forward, disc_forward = obj.generator.forward, obj.discriminator.forward

    def gen(masked_ids, attention_mask, token_type_ids=None, positions=None):
        seen["positions"], seen["gen_logits"] = positions, gen_forward(masked_ids, attention_mask, token_type_ids,
                                                                       positions=positions)  # fmt: skip
        return seen["gen_logits"]

    def disc(inp, attention_mask, token_type_ids=None):
        seen["disc_input"], seen["disc_logits"] = inp.clone(), disc_forward(inp, attention_mask, token_type_ids)
        return seen["disc_logits"]

    monkeypatch.setattr(obj.generator, "forward", gen)
    monkeypatch.setattr(obj.discriminator, "forward", disc)
    return seen


def test_total_loss_is_mlm_plus_50_disc_recomputed_from_scratch(tiny_electra_config, monkeypatch):
    """The loss recomputed from what the two networks saw and said: the MLM loss averaged over the used
    slots (weights), the discriminator's over all real tokens of the batch (not per sequence), labels =
    the discriminator's input differs from the original; unused slots keep their original token."""
    _, obj = _objective(tiny_electra_config)
    seen = _spy(obj, monkeypatch)
    ids, mask = random_batch(4, 24, 101, pad_from=[24, 20, 12, 8])  # 4 slots, fewer used in short rows
    torch.manual_seed(3)
    out = obj(ids, mask)
    pos, gen_logits, disc_input = seen["positions"], seen["gen_logits"].float(), seen["disc_input"]
    used = torch.zeros_like(mask)
    for i, n in enumerate([24, 20, 12, 8]):
        used[i, pos[i, : max(1, min(pos.shape[1], round(n * 0.15)))]] = True
    assert (used.sum(1) < pos.shape[1]).any()  # some slots unused: dividing by N would differ
    slot_used = used.gather(1, pos)
    nll = F.cross_entropy(gen_logits[slot_used], ids.gather(1, pos)[slot_used])
    torch.testing.assert_close(out["mlm_loss"], nll, atol=1e-5, rtol=1e-5)
    assert torch.equal(disc_input[~used], ids[~used])  # only used slots may change
    labels = (disc_input != ids).float()
    assert labels.sum() > 0  # an untrained generator replaces some: labels forced to 0 would differ
    bce = F.binary_cross_entropy_with_logits(seen["disc_logits"].float()[mask], labels[mask])
    torch.testing.assert_close(out["disc_loss"], bce, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["loss"], nll + 50 * bce, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out["loss"], out["mlm_loss"] + 50 * out["disc_loss"])
    _, obj2 = _objective(tiny_electra_config, disc_weight=7.0, gen_weight=2.0)
    out2 = obj2(ids, mask)
    torch.testing.assert_close(out2["loss"], 2 * out2["mlm_loss"] + 7 * out2["disc_loss"])


def test_sampled_original_is_labelled_original(tiny_electra_config, monkeypatch):
    """When the generator is certain of the original token, nothing is labelled replaced."""
    _, obj = _objective(tiny_electra_config)
    ids, mask = random_batch(3, 24, 101, pad_from=[24, 18, 10])
    seen = {}
    orig_forward = obj.discriminator.forward

    def spy(inp, *a, **k):
        seen["input"] = inp.clone()
        return orig_forward(inp, *a, **k)

    class CertainGenerator(torch.nn.Module):
        def forward(self, masked_ids, attention_mask, token_type_ids=None, positions=None):
            return F.one_hot(ids.gather(1, positions), 101).float() * 1e4

    obj.generator = CertainGenerator()
    monkeypatch.setattr(obj.discriminator, "forward", spy)
    out = obj(ids, mask)
    assert torch.equal(seen["input"], ids)  # samples equal originals
    assert out["replaced_frac"].item() == 0.0
    # the loss is the BCE against all-zero labels over real tokens only
    logits = orig_forward(ids, mask).float()
    expected = F.binary_cross_entropy_with_logits(logits[mask], torch.zeros(int(mask.sum())))
    torch.testing.assert_close(out["disc_loss"], expected, atol=1e-6, rtol=1e-5)


def test_generated_labels_mark_every_drawn_token_even_the_original(tiny_electra_config):
    """``disc_labels: generated`` (Token-Critic's target): a drawn token is labelled even when it equals the
    original, so with a certain generator the labels are exactly the used masked slots."""
    _, obj = _objective(tiny_electra_config, disc_labels="generated")
    ids, mask = random_batch(3, 24, 101, pad_from=[24, 18, 10])

    class CertainGenerator(torch.nn.Module):
        def forward(self, masked_ids, attention_mask, token_type_ids=None, positions=None):
            return F.one_hot(ids.gather(1, positions), 101).float() * 1e4

    obj.generator = CertainGenerator()
    torch.manual_seed(1)
    out = obj(ids, mask)
    torch.manual_seed(1)
    masked = obj.mask(ids, mask)
    slots = torch.zeros_like(ids, dtype=torch.float).scatter(1, masked.positions, masked.weights) * mask
    assert out["replaced_frac"].item() == pytest.approx((slots.sum() / mask.sum()).item()) and slots.sum() > 0
    logits = obj.discriminator(ids, mask).float()
    expected = F.binary_cross_entropy_with_logits(logits[mask], slots[mask])
    torch.testing.assert_close(out["disc_loss"], expected, atol=1e-6, rtol=1e-5)


def test_disc_loss_ignores_padding(tiny_electra_config):
    _, obj = _objective(tiny_electra_config)
    ids, mask = random_batch(2, 16, 101, pad_from=[16, 9])
    torch.manual_seed(5)
    a = obj(ids, mask)
    ids2 = ids.clone()
    ids2[1, 9:] = 0
    padded = torch.cat([ids2, torch.zeros(2, 8, dtype=torch.long)], 1)
    mask2 = torch.cat([mask, torch.zeros(2, 8, dtype=torch.bool)], 1)
    torch.manual_seed(5)
    # same real tokens, more padding: masking draws differ in shape, so compare disc loss on a fixed input
    d1 = obj.discriminator(ids, mask)
    d2 = obj.discriminator(padded, mask2)
    torch.testing.assert_close(d1[mask], d2[:, :16][mask], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(a["loss"])


def test_no_gradient_from_discriminator_into_generator(tiny_electra_config):
    model, obj = _objective(tiny_electra_config, gen_weight=0.0)
    ids, mask = random_batch(4, 24, 101)
    obj(ids, mask)["loss"].backward()
    gen_only = [p for n, p in model.generator.named_parameters() if not n.startswith("encoder.embeddings")]
    assert all(p.grad is None or torch.all(p.grad == 0) for p in gen_only)
    assert model.discriminator.head.out.weight.grad.abs().sum() > 0


def test_gumbel_sampling_follows_softmax_in_float32():
    torch.manual_seed(0)
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).to(torch.bfloat16).expand(20000, 4)
    s = gumbel_sample(logits)
    assert s.dtype == torch.long
    freq = torch.bincount(s, minlength=4).float() / len(s)
    torch.testing.assert_close(freq, logits[0].float().softmax(-1), atol=0.015, rtol=0)


def test_mlm_objective_trains_only_the_masked_lm(tiny_encoder_config):
    torch.manual_seed(0)
    model = MaskedLM(tiny_encoder_config)
    cfg = ObjectiveConfig(kind="mlm", mask_token_prob=0.8, random_token_prob=0.1)
    obj = MaskedLanguageModeling(model, NEVER, 4, cfg)
    ids, mask = random_batch(4, 24, 101)
    out = obj(ids, mask)
    assert set(out) == {"loss", "mlm_loss", "gen_acc"}
    assert abs(out["loss"].item() - torch.log(torch.tensor(101.0)).item()) < 1.0


def test_temperature_sharpens_or_flattens_the_generator_samples(tiny_electra_config):
    """A generator preferring the original token by 3 nats: at T = 0.05 it always samples it (nothing
    replaced); at T = 1000 its samples are nearly uniform over 101 ids (almost all replaced)."""
    ids, mask = random_batch(64, 24, 101)

    class Prefers(torch.nn.Module):
        def forward(self, masked_ids, attention_mask, token_type_ids=None, positions=None):
            return F.one_hot(ids.gather(1, positions), 101).float() * 3.0

    fractions = {}
    for t in (0.05, 1000.0):
        _, obj = _objective(tiny_electra_config, temperature=t)
        obj.generator = Prefers()
        torch.manual_seed(0)
        out = obj(ids, mask)
        fractions[t] = out["replaced_frac"].item() / (num_mask_slots(24, 0.15) / 24)  # of the used slots
    assert fractions[0.05] == 0.0 and fractions[1000.0] > 0.9, fractions


def test_padding_ids_of_the_table_are_never_predicted_or_sampled(tiny_electra_config, monkeypatch):
    """The table has 101 rows, the tokenizer 90 ids: a generator that prefers ids 90-100 above all still
    never puts one in the discriminator's input, and the MLM loss is over the 90 real ids only; BERT's
    random replacements are drawn below 90."""
    model = Electra(tiny_electra_config)
    obj = ReplacedTokenDetection(model.generator, model.discriminator, NEVER, 4, ObjectiveConfig(), vocab_size=90)
    seen = _spy(obj, monkeypatch)
    with torch.no_grad():
        model.generator.head.bias[90:] = 50.0  # the padding rows would win every draw
    ids, mask = random_batch(8, 24, 90)
    torch.manual_seed(0)
    out = obj(ids, mask)
    assert seen["disc_input"].max() < 90 and out["replaced_frac"] > 0
    gen = seen["gen_logits"].float()[..., :90]
    pos = seen["positions"]
    torch.testing.assert_close(out["mlm_loss"], F.cross_entropy(gen.flatten(0, 1), ids.gather(1, pos).flatten()))

    mlm = MaskedLM(tiny_electra_config.discriminator)
    cfg = ObjectiveConfig(kind="mlm", mask_token_prob=0.0, random_token_prob=1.0)
    bert = MaskedLanguageModeling(mlm, NEVER, 4, cfg, vocab_size=90)
    big, big_mask = random_batch(64, 64, 90)
    masked = bert.mask(big, big_mask)
    assert masked.input_ids.max() < 90 and (masked.input_ids != big).any()
