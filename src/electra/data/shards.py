"""Read prepared shards: memory-mapped, shuffled per epoch from a seed, split across ranks, resumable.

The order of epoch ``e`` is ``default_rng([seed, e]).permutation(N)``. Global batch ``g`` is the slice
``[g*B*W, (g+1)*B*W)`` of that order (per-rank batch ``B``, world size ``W``), and rank ``r`` takes the
``r``-th block of ``B`` rows. A run's data position is therefore just ``(epoch, global batch index)``,
whatever the number of ranks, as long as the global batch size ``B*W`` stays the same.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from electra.core.errors import ElectraError
from electra.data.prepare import read_manifest


class TokenShards:
    """All shards of a prepared directory, addressed by global row index, memory-mapped (never loaded)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        manifest_path = self.directory / "manifest.json"
        self.max_seq_length = int(self.manifest["max_seq_length"])
        self.vocab_size = int(self.manifest["vocab_size"])
        self.num_tokens = int(self.manifest.get("num_tokens", 0))
        self.dtype = np.dtype(self.manifest["dtype"])
        # The ids the manifest names; a vocabulary without [SEP] / [CLS] (image pixels) has -1, which no token is.
        ids = self.manifest.get("special_token_ids") or {}
        if "pad" not in ids:
            raise ElectraError(f"prepared data manifest {manifest_path} names no [PAD] id (special_token_ids.pad)")
        self.pad_id = int(ids["pad"])
        self.sep_id = int(ids.get("sep", -1))
        self.cls_id = int(ids.get("cls", -1))
        self.files: list[Path] = []
        counts: list[int] = []
        for shard in self.manifest["shards"]:
            try:
                path, n = self.directory / shard["file"], int(shard["num_examples"])
            except (KeyError, TypeError, ValueError):
                raise ElectraError(f"prepared data manifest {manifest_path} has a malformed shard entry: "
                                   f"{shard!r}") from None
            if not path.is_file():
                raise ElectraError(f"shard listed in {manifest_path} is missing: {path}")
            self.files.append(path)
            counts.append(n)
        self.offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        if int(self.offsets[-1]) != int(self.manifest["num_examples"]):
            raise ElectraError(f"prepared data manifest {manifest_path}: shard sizes add up to "
                               f"{int(self.offsets[-1])}, not num_examples={self.manifest['num_examples']}")
        self._arrays: list[np.ndarray] | None = None
        self._open()  # fail early on a broken shard

    def _open(self) -> list[np.ndarray]:
        if self._arrays is None:
            arrays = []
            for path, n in zip(self.files, np.diff(self.offsets), strict=True):
                try:
                    arr = np.load(path, mmap_mode="r")
                except (ValueError, OSError) as e:
                    raise ElectraError(f"cannot read shard {path}: {e}") from None
                if arr.ndim != 2 or arr.shape != (int(n), self.max_seq_length) or arr.dtype != self.dtype:
                    raise ElectraError(f"shard {path} has shape {arr.shape} {arr.dtype}, expected "
                                       f"({int(n)}, {self.max_seq_length}) {self.dtype}")
                arrays.append(arr)
            self._arrays = arrays
        return self._arrays

    def __getstate__(self) -> dict:
        # Pickled into DataLoader workers (spawn/forkserver): send paths, not the mapped data.
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, indices: np.ndarray | int) -> np.ndarray:
        """Rows at the given global indices, in the order given, as an in-memory array [k, L]."""
        if np.isscalar(indices):
            return self[np.array([indices])][0]
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"row index out of range for {n} examples")
        arrays = self._open()
        out = np.empty((idx.size, self.max_seq_length), dtype=self.dtype)
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        shard_of = np.searchsorted(self.offsets, sorted_idx, side="right") - 1
        bounds = np.searchsorted(shard_of, np.arange(len(arrays) + 1), side="left")
        for s in range(len(arrays)):
            lo, hi = bounds[s], bounds[s + 1]
            if lo == hi:
                continue
            # Sorted reads from a memory map touch each page once, in file order.
            out[order[lo:hi]] = arrays[s][sorted_idx[lo:hi] - self.offsets[s]]
        return out


class RowSubset:
    """Some rows of a :class:`TokenShards`, re-indexed from 0 (e.g. the training or the held-out part)."""

    def __init__(self, shards: TokenShards, rows: np.ndarray) -> None:
        self.shards = shards
        self.rows = np.asarray(rows, dtype=np.int64)
        self.directory = shards.directory
        self.max_seq_length = shards.max_seq_length
        self.vocab_size = shards.vocab_size
        self.pad_id = shards.pad_id
        self.sep_id = shards.sep_id
        self.cls_id = shards.cls_id

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, indices: np.ndarray | int) -> np.ndarray:
        """Rows at the given subset indices, in the order given."""
        return self.shards[self.rows[indices]]


HOLDOUT_BLOCK = 64  # held-out rows come in runs of this many consecutive sequences


def holdout_split(num_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices ``0..num_rows-1`` into (training rows, held-out rows), both sorted.

    Rows are packed in corpus order and an example never crosses documents, so the held-out part is made
    of whole runs of ``HOLDOUT_BLOCK`` consecutive rows, drawn from a seeded permutation of the runs: only
    documents cut by a run's two ends are shared with training, and the draw spreads over the corpus.
    """
    if not 0 < fraction < 1:
        raise ElectraError(f"data.eval_fraction must be between 0 and 1, got {fraction!r}")
    blocks = -(-num_rows // HOLDOUT_BLOCK)
    n_held = round(blocks * fraction)
    if n_held < 1 or n_held >= blocks:
        raise ElectraError(
            f"data.eval_fraction = {fraction} of {num_rows:,} sequences ({blocks} runs of {HOLDOUT_BLOCK}) "
            f"leaves {'no held-out' if n_held < 1 else 'no training'} data; change the fraction or add text"
        )
    chosen = np.zeros(blocks, dtype=bool)
    chosen[np.random.default_rng([seed, 0x4E1D]).permutation(blocks)[:n_held]] = True
    held = np.repeat(chosen, HOLDOUT_BLOCK)[:num_rows]
    rows = np.arange(num_rows, dtype=np.int64)
    return rows[~held], rows[held]


def derive_inputs(ids: torch.Tensor, sep_id: int, pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Model inputs from packed token ids [..., L]: ``input_ids`` (int64), ``attention_mask`` (bool,
    False at padding) and ``token_type_ids`` (int64: 0 up to and including the first [SEP], 1 after it,
    0 at padding)."""
    input_ids = ids.to(torch.int64)
    attention_mask = input_ids != pad_id
    is_sep = (input_ids == sep_id).to(torch.int64)
    seps_before = torch.cumsum(is_sep, dim=-1) - is_sep
    token_type_ids = ((seps_before > 0) & attention_mask).to(torch.int64)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The order of examples in ``epoch``: ``default_rng([seed, epoch]).permutation(num_examples)``."""
    perm = np.random.default_rng([seed, epoch]).permutation(num_examples)
    return perm.astype(np.uint32) if num_examples < 2**32 else perm


class PretrainBatches(Dataset):
    """One epoch of one rank's batches: item ``g`` is this rank's share of global batch ``g``.

    With ``drop_last`` (the default) ``len`` counts only full global batches; without it the last global
    batch is completed with examples from the start of the epoch's order, so every rank still gets
    ``batch_size`` rows.
    """

    def __init__(self, shards: TokenShards, batch_size: int, seed: int, epoch: int = 0, rank: int = 0,
                 world_size: int = 1, drop_last: bool = True) -> None:
        if batch_size < 1:
            raise ElectraError(f"batch_size must be positive, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ElectraError(f"rank {rank} is not valid for world_size {world_size}")
        self.shards = shards
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.global_batch_size = batch_size * world_size
        self.order = epoch_permutation(len(shards), seed, epoch)
        n = len(shards)
        if drop_last:
            self.num_batches = n // self.global_batch_size
        else:
            self.num_batches = -(-n // self.global_batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def rows(self, g: int) -> np.ndarray:
        """Global row indices of this rank's part of global batch ``g``, in permutation order."""
        if not 0 <= g < self.num_batches:
            raise IndexError(f"batch {g} out of range for {self.num_batches} batches")
        start = g * self.global_batch_size + self.rank * self.batch_size
        stop = start + self.batch_size
        n = len(self.order)
        if stop <= n:
            return self.order[start:stop].astype(np.int64)
        return self.order[np.arange(start, stop) % n].astype(np.int64)

    def __getitem__(self, g: int) -> dict[str, torch.Tensor]:
        rows = self.shards[self.rows(g)]
        return derive_inputs(torch.from_numpy(rows.astype(np.int64)), self.shards.sep_id, self.shards.pad_id)


@contextlib.contextmanager
def _quiet_fork() -> Iterator[None]:
    """Loader workers never tokenize: tell the tokenizers library so, or it warns in every forked worker."""
    previous = os.environ.get("TOKENIZERS_PARALLELISM")
    if previous is None:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)


def batch_iterator(
    shards: TokenShards,
    batch_size: int,
    seed: int,
    start_epoch: int = 0,
    start_batch: int = 0,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 1,
    pin_memory: bool = False,
) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
    """Yield ``(epoch, batch_index, batch)`` forever, starting at ``(start_epoch, start_batch)``.

    To resume after a saved ``(epoch, batch_index)``, pass ``start_batch=batch_index + 1`` (a start past
    the end of an epoch moves on to the next one). Batches are read ``num_workers`` processes ahead.
    """
    first = PretrainBatches(shards, batch_size, seed, start_epoch, rank, world_size)
    if len(first) == 0:
        raise ElectraError(
            f"corpus too small: {len(shards)} examples < batch size {batch_size * world_size} "
            f"({batch_size} per rank x {world_size} ranks) in {shards.directory}; "
            "add text or lower the batch size"
        )
    epoch, start, dataset = start_epoch, start_batch, first
    while True:
        if dataset is None:
            dataset = PretrainBatches(shards, batch_size, seed, epoch, rank, world_size)
        sampler = range(min(max(start, 0), len(dataset)), len(dataset))
        if len(sampler):
            loader = DataLoader(
                dataset,
                batch_size=None,
                sampler=sampler,
                num_workers=num_workers,
                pin_memory=pin_memory,
                prefetch_factor=2 if num_workers > 0 else None,
                persistent_workers=False,
                # A private generator: creating the loader must not draw from the global RNG, which
                # drives dropout and masking (exact resume depends on it).
                generator=torch.Generator(),
            )
            with _quiet_fork():
                batches = iter(loader)
            for g, batch in zip(sampler, batches, strict=True):
                yield epoch, g, batch
        epoch, start, dataset = epoch + 1, 0, None
