"""Memory-mapped shards, derived inputs, seeded/sharded/resumable batches."""

import itertools
import json
import pickle

import numpy as np
import pytest
import torch

from electra.core.errors import ElectraError
from electra.data.shards import PretrainBatches, TokenShards, batch_iterator, derive_inputs, epoch_permutation

L = 8


def make_shards(directory, shard_sizes=(7, 5, 9), max_len=L):
    """Shards whose row i starts [CLS, 10 + i, SEP, ...] so a row's index can be read back from it."""
    directory.mkdir(parents=True, exist_ok=True)
    shards, start = [], 0
    for k, n in enumerate(shard_sizes):
        rows = np.zeros((n, max_len), dtype=np.uint16)
        for j in range(n):
            i = start + j
            length = 3 + i % (max_len - 3)
            rows[j, :length] = [2, 10 + i, 3, *[20 + i] * (length - 4), 3][:length]
        np.save(directory / f"shard-{k:05d}.npy", rows)
        shards.append({"file": f"shard-{k:05d}.npy", "num_examples": n})
        start += n
    manifest = {"format": 1, "max_seq_length": max_len, "dtype": "uint16", "vocab_size": 100,
                "num_examples": start, "shards": shards, "num_tokens": 0,
                "special_token_ids": {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def row_ids(batch):
    return batch["input_ids"][:, 1].numpy() - 10


def test_token_shards_reads_rows_across_shards_in_any_order(tmp_path):
    shards = TokenShards(make_shards(tmp_path / "s"))
    assert len(shards) == 21 and shards.max_seq_length == L
    idx = np.array([20, 0, 6, 7, 12, 11, 6, 3])
    rows = shards[idx]
    assert rows.shape == (8, L) and rows.dtype == np.uint16
    assert list(rows[:, 1] - 10) == list(idx)
    assert shards[13][1] == 23
    with pytest.raises(IndexError):
        shards[np.array([21])]
    # Pickling (DataLoader workers under spawn) carries paths, not the mapped data.
    clone = pickle.loads(pickle.dumps(shards))
    assert len(pickle.dumps(shards)) < 4000
    assert np.array_equal(clone[idx], rows)


def test_bad_manifests(tmp_path):
    with pytest.raises(ElectraError, match="manifest.json"):
        TokenShards(tmp_path)
    d = make_shards(tmp_path / "s")
    (d / "manifest.json").write_text("{oops")
    with pytest.raises(ElectraError, match="manifest.json"):
        TokenShards(d)
    d = make_shards(tmp_path / "t")
    (d / "shard-00001.npy").unlink()
    with pytest.raises(ElectraError, match="shard-00001.npy"):
        TokenShards(d)


def test_derive_inputs():
    ids = torch.tensor([[2, 11, 12, 3, 13, 14, 3, 0, 0],
                        [2, 15, 3, 0, 0, 0, 0, 0, 0],
                        [2, 16, 17, 18, 19, 3, 21, 3, 22]], dtype=torch.int32)
    out = derive_inputs(ids, sep_id=3)
    assert out["input_ids"].dtype == torch.int64 and out["input_ids"].tolist() == ids.tolist()
    assert out["attention_mask"].dtype == torch.bool
    assert out["attention_mask"].tolist() == [[True] * 7 + [False] * 2, [True] * 3 + [False] * 6, [True] * 9]
    assert out["token_type_ids"].tolist() == [
        [0, 0, 0, 0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 1, 1],
    ]
    assert derive_inputs(torch.tensor([2, 5, 3, 6, 3, 9]), sep_id=3, pad_id=9)["token_type_ids"].tolist() == [
        0, 0, 0, 1, 1, 0]


def test_batches_deterministic_per_epoch_and_rank_union(tmp_path):
    shards = TokenShards(make_shards(tmp_path / "s", shard_sizes=(40, 30, 31)))
    one = PretrainBatches(shards, batch_size=8, seed=7, epoch=0)
    assert len(one) == 101 // 8
    again = PretrainBatches(shards, batch_size=8, seed=7, epoch=0)
    assert all(torch.equal(one[g]["input_ids"], again[g]["input_ids"]) for g in range(len(one)))
    def order(batches):
        return np.concatenate([row_ids(batches[g]) for g in range(len(batches))])

    order0 = order(one)
    order1 = order(PretrainBatches(shards, 8, seed=7, epoch=1))
    other_seed = order(PretrainBatches(shards, 8, seed=8))
    assert len(set(order0)) == len(order0) == 96  # no row twice within an epoch
    assert not np.array_equal(order0, order1) and not np.array_equal(order0, other_seed)
    ranks = [PretrainBatches(shards, batch_size=4, seed=7, epoch=0, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(one)
    for g in range(len(one)):
        joined = np.concatenate([row_ids(ranks[0][g]), row_ids(ranks[1][g])])
        assert np.array_equal(joined, row_ids(one[g]))
    batch = one[3]
    assert batch["token_type_ids"].shape == (8, L) and batch["attention_mask"].dtype == torch.bool
    # Without drop_last the last global batch is completed from the start of the epoch's order.
    padded = PretrainBatches(shards, batch_size=8, seed=7, drop_last=False)
    perm = epoch_permutation(101, seed=7, epoch=0)
    assert len(padded) == 13
    assert list(row_ids(padded[12])) == list(perm[96:101]) + list(perm[:3])
    assert list(order0) == list(perm[:96])


def collect(iterator, n):
    return [(e, g, row_ids(b)) for e, g, b in itertools.islice(iterator, n)]


def test_batch_iterator_runs_over_epochs_and_resumes(tmp_path):
    shards = TokenShards(make_shards(tmp_path / "s", shard_sizes=(11, 12)))  # 23 rows: 5 batches of 4
    full = collect(batch_iterator(shards, 4, seed=1, num_workers=0), 13)
    assert [(e, g) for e, g, _ in full] == [(e, g) for e in range(3) for g in range(5)][:13]
    assert not np.array_equal(np.concatenate([r for _, _, r in full[:5]]),
                              np.concatenate([r for _, _, r in full[5:10]]))
    # Resume after (epoch 0, batch 2), on two ranks, with worker processes prefetching.
    resumed = [collect(batch_iterator(shards, 2, seed=1, start_epoch=0, start_batch=3, rank=r, world_size=2,
                                      num_workers=2), 6) for r in range(2)]
    for (e, g, rows), (e0, g0, rows0), (e1, g1, rows1) in zip(full[3:9], *resumed, strict=True):
        assert (e, g) == (e0, g0) == (e1, g1)
        assert np.array_equal(rows, np.concatenate([rows0, rows1]))
    # A start past the end of an epoch continues with the next one.
    after_end = batch_iterator(shards, 4, seed=1, start_epoch=1, start_batch=5, num_workers=0)
    assert collect(after_end, 1)[0][:2] == (2, 0)


def test_corpus_too_small(tmp_path):
    shards = TokenShards(make_shards(tmp_path / "s", shard_sizes=(3, 2)))
    with pytest.raises(ElectraError, match="corpus too small: 5 examples < batch size 6"):
        next(batch_iterator(shards, 3, seed=0, world_size=2, num_workers=0))


def test_holdout_split_is_a_seeded_partition_into_runs_of_rows(tmp_path):
    from electra.data.shards import HOLDOUT_BLOCK, RowSubset, holdout_split

    n = 10 * HOLDOUT_BLOCK + 17  # 11 runs, the last one short
    train, held = holdout_split(n, 0.2, seed=0)
    assert len(held) in (2 * HOLDOUT_BLOCK, HOLDOUT_BLOCK + 17)  # two runs
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(n))
    assert not set(train.tolist()) & set(held.tolist())
    starts = held[np.r_[True, np.diff(held) > 1]]
    assert all(s % HOLDOUT_BLOCK == 0 for s in starts)  # whole runs, never a scatter of single rows
    again_train, again_held = holdout_split(n, 0.2, seed=0)
    assert np.array_equal(held, again_held) and np.array_equal(train, again_train)
    assert any(not np.array_equal(held, holdout_split(n, 0.2, seed=s)[1]) for s in (1, 2, 3))
    with pytest.raises(ElectraError, match="leaves no held-out data"):
        holdout_split(n, 0.01, seed=0)
    with pytest.raises(ElectraError, match="data.eval_fraction must be between 0 and 1"):
        holdout_split(n, 1.0, seed=0)

    # Batches over the training subset read exactly its rows: one epoch (no drop) covers them, none held out.
    shards = TokenShards(make_shards(tmp_path / "s", shard_sizes=(300, 250, n - 550)))
    subset = RowSubset(shards, train)
    batches = PretrainBatches(subset, batch_size=len(train) // 7, seed=3, drop_last=False)
    seen = np.concatenate([row_ids(batches[g]) for g in range(len(batches))])
    assert set(seen.tolist()) == set(train.tolist())
