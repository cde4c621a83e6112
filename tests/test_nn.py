import math

import torch

from electra.models import TransformerEncoder
from electra.nn import MultiHeadAttention, TransformerLayer, padding_to_attn_mask


def _manual_attention(mha: MultiHeadAttention, x, ctx, keep, causal=False):
    h, d = mha.num_heads, mha.head_dim
    b, lq, _ = x.shape
    lk = ctx.shape[1]
    q = mha.query(x).view(b, lq, h, d).transpose(1, 2)
    k = mha.key(ctx).view(b, lk, h, d).transpose(1, 2)
    v = mha.value(ctx).view(b, lk, h, d).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    allowed = keep[:, None, None, :].expand(b, h, lq, lk).clone()
    if causal:
        allowed &= torch.ones(lq, lk, dtype=torch.bool).tril()
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = scores.softmax(-1) @ v
    return mha.output(out.transpose(1, 2).reshape(b, lq, -1))


def test_self_attention_matches_manual_with_padding():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(3, 7, 16)
    keep = torch.ones(3, 7, dtype=torch.bool)
    keep[1, 4:] = False
    keep[2, 2:] = False
    got = mha(x, attn_mask=padding_to_attn_mask(keep))
    torch.testing.assert_close(got, _manual_attention(mha, x, x, keep), atol=1e-5, rtol=1e-5)


def test_causal_attention_with_padding_matches_manual_and_ignores_future():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2)
    x = torch.randn(2, 6, 16)
    keep = torch.ones(2, 6, dtype=torch.bool)
    keep[0, 5:] = False
    got = mha(x, attn_mask=padding_to_attn_mask(keep), causal=True)
    torch.testing.assert_close(got, _manual_attention(mha, x, x, keep, causal=True), atol=1e-5, rtol=1e-5)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(2, 2, 16)  # changing the future must not change earlier outputs
    got2 = mha(x2, attn_mask=padding_to_attn_mask(keep), causal=True)
    torch.testing.assert_close(got[:, :4], got2[:, :4])


def test_cross_attention_uses_memory_width_and_mask():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, kv_size=24)
    x, mem = torch.randn(2, 5, 16), torch.randn(2, 9, 24)
    keep = torch.ones(2, 9, dtype=torch.bool)
    keep[0, 6:] = False
    got = mha(x, mem, attn_mask=padding_to_attn_mask(keep))
    assert got.shape == (2, 5, 16)
    torch.testing.assert_close(got, _manual_attention(mha, x, mem, keep), atol=1e-5, rtol=1e-5)


def test_post_ln_output_is_normalised_and_pre_ln_is_not():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16) * 5
    post = TransformerLayer(16, 2, 32, dropout=0.0, attention_dropout=0.0).eval()
    pre = TransformerLayer(16, 2, 32, dropout=0.0, attention_dropout=0.0, norm_first=True).eval()
    pre.load_state_dict(post.state_dict())
    y_post, y_pre = post(x), pre(x)
    torch.testing.assert_close(y_post.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    assert y_pre.std(-1).mean() > 2  # pre-LN keeps the residual stream's scale
    assert not torch.allclose(y_post, y_pre)


def test_encoder_ignores_padding(tiny_encoder_config):
    torch.manual_seed(0)
    enc = TransformerEncoder(tiny_encoder_config).eval()
    ids = torch.randint(5, 101, (1, 10))
    short = enc(ids, torch.ones(1, 10, dtype=torch.bool))
    padded_ids = torch.cat([ids, torch.zeros(1, 6, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 10), torch.zeros(1, 6)], 1).bool()
    long = enc(padded_ids, mask)
    torch.testing.assert_close(long[:, :10], short, atol=1e-5, rtol=1e-5)


def test_bert_initialisation(tiny_encoder_config):
    torch.manual_seed(0)
    enc = TransformerEncoder(tiny_encoder_config)
    w = enc.layers[0].feed_forward.dense_in.weight
    assert abs(w.std().item() - 0.02) < 0.003
    assert torch.all(enc.layers[0].attention.query.bias == 0)
    assert torch.all(enc.embeddings.word_embeddings.weight[0] == 0)  # padding row
    assert enc.projection is not None  # embedding 16 != hidden 32
