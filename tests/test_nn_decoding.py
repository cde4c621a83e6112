"""``nn/`` ready for a decoder: the static key/value cache, position offsets, the causal mask built once,
cross-attention keys / values computed once (issue 11, step 0)."""

import pytest
import torch

from electra.nn import Embeddings, KVCache, MultiHeadAttention, TransformerLayer, causal_mask


def _decoder(num_layers=2, hidden=16, memory_size=24):
    torch.manual_seed(0)
    return torch.nn.ModuleList(
        TransformerLayer(hidden, 4, 32, dropout=0.0, attention_dropout=0.0, cross_attention=True,
                         memory_size=memory_size)  # fmt: skip
        for _ in range(num_layers)
    ).eval()


def _full(layers, x, memory, memory_mask):
    for layer in layers:
        x = layer(x, causal=True, memory=memory, memory_mask=memory_mask)
    return x


def test_incremental_decoding_with_the_cache_equals_full_recomputation_at_every_step():
    """A 2-layer decoder over an encoder memory of another width (24 vs 16), one token at a time into a
    preallocated cache, gives at each step the full causal recomputation's output at that position."""
    layers = _decoder()
    batch, steps, max_len = 3, 7, 10
    x = torch.randn(batch, steps, 16)
    memory = torch.randn(batch, 5, 24)
    keep = torch.ones(batch, 5, dtype=torch.bool)
    keep[1, 3:] = False
    memory_mask = keep[:, None, None, :]
    full = _full(layers, x, memory, memory_mask)
    caches = [KVCache(batch, 4, max_len, 4) for _ in layers]
    shapes = [(c.k.shape, c.k.data_ptr()) for c in caches]
    memory_kv = [layer.cross_attention.project_memory(memory) for layer in layers]  # once per sentence
    with torch.no_grad():
        for t in range(steps):
            h = x[:, t : t + 1]
            position = torch.tensor(t)
            for layer, cache, kv in zip(layers, caches, memory_kv):
                h = layer(h, cache=cache, position=position, memory_kv=kv, memory_mask=memory_mask)
            torch.testing.assert_close(h[:, 0], full[:, t], atol=1e-5, rtol=1e-5)
    assert [(c.k.shape, c.k.data_ptr()) for c in caches] == shapes  # static: no reallocation


def test_cache_can_take_a_prefix_then_steps_and_reorder_beams():
    """A prompt of 3 tokens written at once, then single steps, equals the full computation; reordering
    rows (beam search) moves their cached keys with them."""
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 5, 8)
    full = mha(x, causal=True)
    cache = KVCache(2, 2, 8, 4)
    with torch.no_grad():
        torch.testing.assert_close(mha(x[:, :3], cache=cache, position=0), full[:, :3], atol=1e-5, rtol=1e-5)
        for t in (3, 4):
            torch.testing.assert_close(mha(x[:, t : t + 1], cache=cache, position=t)[:, 0], full[:, t],
                                       atol=1e-5, rtol=1e-5)  # fmt: skip
    before = cache.k.clone()
    cache.reorder(torch.tensor([1, 1]))
    assert torch.equal(cache.k[0], before[1]) and torch.equal(cache.k[1], before[1])


def test_no_position_sees_the_future():
    """The gradient of position t's output with respect to the inputs at positions after t is zero,
    with and without a padding mask."""
    torch.manual_seed(2)
    mha = MultiHeadAttention(8, 2)
    for mask in (None, torch.ones(1, 1, 1, 6, dtype=torch.bool)):
        x = torch.randn(1, 6, 8, requires_grad=True)
        mha(x, attn_mask=mask, causal=True)[0, 2].sum().backward()
        assert (x.grad[0, 3:] == 0).all() and (x.grad[0, :3] != 0).any()


def test_causal_mask_is_built_once_per_shape():
    a = causal_mask(4, 6, torch.device("cpu"))
    assert a is causal_mask(4, 6, torch.device("cpu"))
    assert torch.equal(a, torch.ones(4, 6, dtype=torch.bool).tril(2))


def test_position_offset_embeds_later_positions():
    torch.manual_seed(3)
    emb = Embeddings(20, 8, max_positions=10, dropout=0.0).eval()
    ids = torch.randint(1, 20, (2, 6))
    full = emb(ids)
    torch.testing.assert_close(emb(ids[:, 4:5], position_offset=4), full[:, 4:5])
    torch.testing.assert_close(emb(ids[:, 4:5], position_offset=torch.tensor(4)), full[:, 4:5])
    per_row = emb(torch.stack([ids[0, 2:3], ids[1, 5:6]]), position_offset=torch.tensor([2, 5]))
    torch.testing.assert_close(per_row[:, 0], torch.stack([full[0, 2], full[1, 5]]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        emb(ids, position_offset=5)
