import math

import pytest
import torch
import torch.nn.functional as F

from electra.models import TransformerEncoder
from electra.nn import MultiHeadAttention, TransformerLayer, padding_to_attn_mask


def _projections(mha: MultiHeadAttention, x, ctx):
    """Queries, keys and values computed with the fused weights cut into three separate matrices."""
    if mha.cross:
        wk, wv = mha.kv.weight.chunk(2)
        bk, bv = mha.kv.bias.chunk(2)
        return mha.query(x), F.linear(ctx, wk, bk), F.linear(ctx, wv, bv)
    w, bias = mha.qkv.weight.chunk(3), mha.qkv.bias.chunk(3)
    return tuple(F.linear(x, w[i], bias[i]) for i in range(3))


def _manual_attention(mha: MultiHeadAttention, x, ctx, keep, causal=False):
    h, d = mha.num_heads, mha.head_dim
    b, lq, _ = x.shape
    lk = ctx.shape[1]
    q, k, v = _projections(mha, x, ctx)
    q = q.view(b, lq, h, d).transpose(1, 2)
    k = k.view(b, lk, h, d).transpose(1, 2)
    v = v.view(b, lk, h, d).transpose(1, 2)
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


def test_fused_projection_loads_separate_query_key_value_weights():
    """A state dict with the separate projections of checkpoints before the fusion loads through the hook,
    and the module computes what the three matrices compute."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    parts = {n: torch.nn.Linear(16, 16) for n in ("query", "key", "value")}
    legacy = {f"{n}.{k}": getattr(lin, k).detach() for n, lin in parts.items() for k in ("weight", "bias")}
    legacy.update({f"output.{k}": v for k, v in mha.output.state_dict().items()})
    mha.load_state_dict(legacy)
    assert set(mha.state_dict()) == {"qkv.weight", "qkv.bias", "output.weight", "output.bias"}
    x = torch.randn(2, 5, 16)
    q, k, v = (parts[n](x) for n in ("query", "key", "value"))
    got_q, got_k, got_v = _projections(mha, x, x)
    for a, b in ((got_q, q), (got_k, k), (got_v, v)):
        torch.testing.assert_close(a, b)
    cross = MultiHeadAttention(16, 4, kv_size=24)
    kv = {n: torch.nn.Linear(24, 16) for n in ("key", "value")}
    legacy = {f"{n}.{k}": getattr(lin, k).detach() for n, lin in kv.items() for k in ("weight", "bias")}
    legacy.update({f"{m}.{k}": v for m in ("query", "output") for k, v in getattr(cross, m).state_dict().items()})
    cross.load_state_dict(legacy)
    mem = torch.randn(2, 3, 24)
    _, got_k, got_v = _projections(cross, x, mem)
    torch.testing.assert_close(got_k, kv["key"](mem))
    torch.testing.assert_close(got_v, kv["value"](mem))


def test_self_and_cross_attention_refuse_the_other_call():
    with pytest.raises(ValueError, match="takes no `context`"):
        MultiHeadAttention(16, 4)(torch.randn(1, 2, 16), torch.randn(1, 3, 16))
    with pytest.raises(ValueError, match="needs a `context`"):
        MultiHeadAttention(16, 4, cross=True)(torch.randn(1, 2, 16))


def test_cross_attention_layer_reads_a_memory_of_another_width():
    torch.manual_seed(0)
    layer = TransformerLayer(16, 2, 32, dropout=0.0, attention_dropout=0.0, cross_attention=True, memory_size=24)
    out = layer(torch.randn(2, 5, 16), causal=True, memory=torch.randn(2, 7, 24))
    assert out.shape == (2, 5, 16) and layer.cross_attention.kv.in_features == 24


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
    assert torch.all(enc.layers[0].attention.qkv.bias == 0)
    assert torch.all(enc.embeddings.word_embeddings.weight[0] == 0)  # padding row
    assert enc.projection is not None  # embedding 16 != hidden 32
