"""The encoder-decoder Transformer (issue 11, step 1): shapes, tied and shared tables, the paper's position
encodings, causal decoding, step-by-step decoding equal to the full pass, presets, save / load."""

import math

import pytest
import torch

from electra.models import PretrainedModel, Seq2SeqConfig, TransformerSeq2Seq
from electra.nn import sinusoidal_table


def _model(**changes) -> TransformerSeq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig.preset("tiny", 50, hidden_size=32, intermediate_size=64, dropout=0.0, max_positions=64,
                               **changes)  # fmt: skip
    return TransformerSeq2Seq(cfg).eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(3, 50, (3, 9), generator=g)
    src_mask = torch.ones(3, 9, dtype=torch.bool)
    src_mask[1, 6:] = False
    src[1, 6:] = 0
    tgt = torch.randint(3, 50, (3, 7), generator=g)
    return src, src_mask, tgt


def test_sinusoidal_table_is_the_papers_formula():
    table = sinusoidal_table(50, 16)
    pos, i = 37, 3
    assert table[pos, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 16)), abs=1e-6)
    assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(pos / 10000 ** (2 * i / 16)), abs=1e-6)


@pytest.mark.parametrize("changes", [{}, {"norm_first": True}, {"positions": "learned"},
                                     {"shared_embeddings": False, "tgt_vocab_size": 40}])  # fmt: skip
def test_step_by_step_decoding_equals_the_full_pass(changes):
    model = _model(**changes)
    src, src_mask, tgt = _batch()
    tgt = tgt.clamp_max(model.config.target_vocab_size - 1)
    with torch.no_grad():
        full = model(src, src_mask, tgt)
        assert full.shape == (3, 7, model.config.target_vocab_size)
        state = model.start_decoding(model.encode(src, src_mask), src_mask, max_length=12)
        for t in range(tgt.shape[1]):
            step = model.decode_step(tgt[:, t : t + 1], state, torch.tensor(t))
            torch.testing.assert_close(step, full[:, t], atol=1e-4, rtol=1e-4)


def test_output_is_tied_to_the_target_table_and_sharing_is_an_option():
    shared = _model()
    assert shared.src_embeddings is shared.tgt_embeddings
    names = {n for n, _ in shared.named_parameters()}
    assert not any("output" in n and "attention" not in n for n in names)  # no separate output matrix
    separate = _model(shared_embeddings=False, tgt_vocab_size=40)
    assert separate.src_embeddings.word_table().shape == (50, 32)
    assert separate.tgt_embeddings.word_table().shape == (40, 32)
    x = torch.randn(1, 1, 32)
    torch.testing.assert_close(separate._output(x), x @ separate.tgt_embeddings.word_table().T)
    with pytest.raises(ValueError, match="one vocabulary"):
        Seq2SeqConfig(vocab_size=50, tgt_vocab_size=40, shared_embeddings=True)


def test_the_decoder_never_sees_the_future_and_padding_is_ignored():
    model = _model()
    src, src_mask, tgt = _batch()
    with torch.no_grad():
        base = model(src, src_mask, tgt)
        later = tgt.clone()
        later[:, 4:] = 7
        torch.testing.assert_close(model(src, src_mask, later)[:, :4], base[:, :4])  # positions < 4 unchanged
        other_pad = src.clone()
        other_pad[1, 6:] = 9  # what sits under the padding does not matter
        torch.testing.assert_close(model(other_pad, src_mask, tgt), base)


def test_presets_have_the_papers_sizes():
    base = TransformerSeq2Seq(Seq2SeqConfig.preset("base", 37000))
    big = TransformerSeq2Seq(Seq2SeqConfig.preset("big", 37000))
    assert 60e6 < sum(p.numel() for p in base.parameters()) < 66e6  # the paper: 65M
    assert 205e6 < sum(p.numel() for p in big.parameters()) < 215e6  # the paper: 213M
    small = Seq2SeqConfig.preset("small", 10000)
    assert (small.encoder_layers, small.hidden_size, small.intermediate_size, small.num_heads) == (6, 512, 1024, 4)


def test_save_and_load_round_trip(tmp_path):
    model = _model(shared_embeddings=False, tgt_vocab_size=40, norm_first=True)
    path = model.save_pretrained(tmp_path / "s2s")
    loaded = PretrainedModel.registry["TransformerSeq2Seq"].from_pretrained(path)
    assert loaded.config == model.config
    src, src_mask, tgt = _batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded(src, src_mask, tgt.clamp_max(39)), model(src, src_mask, tgt.clamp_max(39)))
