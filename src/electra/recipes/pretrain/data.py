"""Pretraining data: the tokenizer (given, or trained on the corpus and cached), packed shards, held-out rows.

Under torchrun rank 0 fetches the corpus, trains the tokenizer and prepares the shards; the other ranks wait,
then use its tokenizer (WordPiece training is not deterministic, so ranks training their own would disagree
on ids) and find the prepared shards in the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.core.files import files_fingerprint
from electra.data import catalogue
from electra.data.corpus import SkipReport, iter_documents, resolve_corpus
from electra.data.images import ImageTokens, prepare_image_shards, read_class_names
from electra.data.prepare import PackingConfig, prepare_corpus
from electra.data.shards import RowSubset, TokenShards, holdout_split
from electra.data.tokenizer import load_tokenizer, save_tokenizer, special_token_ids, tokenizer_files, train_wordpiece
from electra.recipes.pretrain.build import padded_vocab_size
from electra.recipes.pretrain.config import PretrainConfig
from electra.train import distributed as D


@dataclass
class PretrainData:
    """What a pretraining run reads: the tokenizer (or, for images, the pixel tokens), the training rows and
    this rank's held-out rows."""

    tokenizer: Tokenizer | None
    train: TokenShards | RowSubset
    held_out: RowSubset | None
    image: ImageTokens | None = None

    @property
    def vocab_size(self) -> int:
        """The real vocabulary's size (the tokenizer's, or the pixel levels' plus [MASK], [PAD], classes)."""
        return self.image.vocab_size if self.image else self.tokenizer.get_vocab_size()

    @property
    def table_size(self) -> int:
        """Rows of a new model's embedding table: text's vocabulary padded to a multiple of 64, images' exact."""
        return self.image.vocab_size if self.image else padded_vocab_size(self.vocab_size)

    def special_ids(self) -> dict[str, int]:
        return self.image.special_ids() if self.image else special_token_ids(self.tokenizer)

    def never_mask(self) -> list[int]:
        """Ids masking never selects: [CLS], [SEP], [MASK], [PAD]; for images [MASK], [PAD] and class tokens."""
        if self.image:
            return self.image.never_mask()
        ids = self.special_ids()
        return [ids["cls"], ids["sep"], ids["mask"], ids["pad"]]

    def checkpoint_files(self) -> dict[str, str]:
        """What a checkpoint holds besides the weights: the tokenizer's files (none for images)."""
        return tokenizer_files(self.tokenizer) if self.tokenizer is not None else {}

    def checkpoint_meta(self) -> dict[str, Any]:
        """What config.json says about the data: for images, the pixel tokens (``image_tokens``)."""
        return {"image_tokens": self.image.to_dict()} if self.image else {}


def obtain_tokenizer(cfg: PretrainConfig, files: list[Path], cache: Path) -> Tokenizer:
    """Load ``data.tokenizer``, or train a WordPiece vocabulary on the corpus (cached by content)."""
    if cfg.data.tokenizer:
        return load_tokenizer(Path(cfg.data.tokenizer))
    key = files_fingerprint(files, cfg.data.vocab_size, cfg.data.lowercase, cfg.data.doc_per_line, cfg.data.text_field)
    target = cache / "tokenizers" / key
    if (target / "tokenizer.json").is_file():
        return load_tokenizer(target / "tokenizer.json")
    docs = iter_documents(files, cfg.data.doc_per_line, cfg.data.text_field, SkipReport())
    tok = train_wordpiece(docs, vocab_size=cfg.data.vocab_size, lowercase=cfg.data.lowercase)
    tmp = target.with_name(f".tmp-{key}")
    save_tokenizer(tok, tmp)
    if not target.exists():
        tmp.replace(target)
    return tok


def packing_config(cfg: PretrainConfig) -> PackingConfig:
    d = cfg.data
    return PackingConfig(max_seq_length=d.max_seq_length, short_seq_prob=d.short_seq_prob,
                         single_segment_prob=d.single_segment_prob, seed=cfg.train.seed, shard_size=d.shard_size,
                         doc_per_line=d.doc_per_line, text_field=d.text_field)  # fmt: skip


def load_data(cfg: PretrainConfig, tokenizer_file: Path | None, dist: D.DistInfo, progress: bool) -> PretrainData:
    """Tokenizer (from ``tokenizer_file``, e.g. a checkpoint's, else :func:`obtain_tokenizer`), prepared shards
    and held-out rows for this rank."""
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else catalogue.cache_dir()
    if cfg.data.modality == "image":
        return load_images(cfg, cache, dist)
    tokenizer_json = None
    if dist.is_main:
        files, eval_files = resolve_corpus(cfg.data.corpus), resolve_corpus(cfg.data.eval_corpus)
        tokenizer = load_tokenizer(tokenizer_file) if tokenizer_file else obtain_tokenizer(cfg, files, cache)
        tokenizer_json = tokenizer.to_str()
    tokenizer_json = D.broadcast_object(tokenizer_json, dist)
    if not dist.is_main:
        files, eval_files = resolve_corpus(cfg.data.corpus), resolve_corpus(cfg.data.eval_corpus)
        tokenizer = Tokenizer.from_str(tokenizer_json)
    packing = packing_config(cfg)
    if dist.is_main:
        shard_dir = prepare_corpus(files, tokenizer, cache / "prepared", packing, progress=progress)
        eval_dir = _prepare_eval_corpus(eval_files, tokenizer, cache, packing, progress)
    D.barrier(dist)
    if not dist.is_main:
        shard_dir = prepare_corpus(files, tokenizer, cache / "prepared", packing, progress=False)
        eval_dir = _prepare_eval_corpus(eval_files, tokenizer, cache, packing, False)
    train, held = split_held_out(TokenShards(shard_dir), eval_dir, cfg, dist)
    return PretrainData(tokenizer, train, held)


def image_tokens(cfg: PretrainConfig) -> ImageTokens:
    """The pixel tokens of an image run: its size and levels, and the source's class names with labels."""
    d = cfg.data
    names = read_class_names(d.corpus[0]) if d.image_labels else []
    if d.image_labels and not names:
        raise ElectraError(f"data.corpus {d.corpus[0]} has no labels; set data.image_labels false for an "
                           "unconditional model")  # fmt: skip
    return ImageTokens(d.image_size, d.image_levels, names)


def load_images(cfg: PretrainConfig, cache: Path, dist: D.DistInfo) -> PretrainData:
    """An image run's data: the corpus' training images as token shards (rank 0 prepares, the others wait), the
    held-out rows by ``data.eval_fraction`` or from ``data.eval_corpus`` (``test`` for a catalogue set's own test
    split, or another source)."""
    d = cfg.data
    tokens = image_tokens(cfg)

    def prepare() -> tuple[Path, Path | None]:
        train_dir = prepare_image_shards(d.corpus[0], tokens, cache / "prepared")
        if not d.eval_corpus:
            return train_dir, None
        source, split = (d.corpus[0], "test") if d.eval_corpus == ["test"] else (d.eval_corpus[0], "train")
        try:
            return train_dir, prepare_image_shards(source, tokens, cache / "prepared", split)
        except ElectraError as e:
            raise ElectraError(f"data.eval_corpus: {e}") from None

    if dist.is_main:
        train_dir, eval_dir = prepare()
    D.barrier(dist)
    if not dist.is_main:
        train_dir, eval_dir = prepare()
    train, held = split_held_out(TokenShards(train_dir), eval_dir, cfg, dist)
    return PretrainData(None, train, held, tokens)


def _prepare_eval_corpus(
    files: list[Path], tokenizer: Tokenizer, cache: Path, packing: PackingConfig, progress: bool
) -> Path | None:
    """Prepared shards of ``data.eval_corpus`` (None without one); its errors name the key."""
    if not files:
        return None
    try:
        return prepare_corpus(files, tokenizer, cache / "prepared", packing, progress=progress)
    except ElectraError as e:
        raise ElectraError(f"data.eval_corpus: {e}") from None


def split_held_out(
    shards: TokenShards, eval_dir: Path | None, cfg: PretrainConfig, dist: D.DistInfo
) -> tuple[TokenShards | RowSubset, RowSubset | None]:
    """The training rows, and this rank's held-out rows (``None`` without held-out evaluation).

    ``data.eval_fraction`` keeps whole runs of the corpus' sequences out of training (see
    :func:`holdout_split`); ``data.eval_corpus`` is separate text. At most ``train.eval_sequences`` held-out
    sequences are used, the same on every call, split evenly over the ranks (FSDP needs equal counts)."""
    seed = cfg.train.seed
    if cfg.data.eval_fraction:
        train_rows, held_rows = holdout_split(len(shards), cfg.data.eval_fraction, seed)
        held: TokenShards | RowSubset = RowSubset(shards, held_rows)
        shards = RowSubset(shards, train_rows)
    elif eval_dir is not None:
        held = TokenShards(eval_dir)
    else:
        return shards, None
    rows = np.arange(len(held), dtype=np.int64)
    if len(rows) > cfg.train.eval_sequences:
        rows = np.sort(np.random.default_rng([seed, 0xE7A1]).choice(rows, cfg.train.eval_sequences, replace=False))
    rows = rows[: len(rows) - len(rows) % dist.world_size]
    if not len(rows):
        raise ElectraError(f"held-out data has fewer sequences ({len(held)}) than processes ({dist.world_size})")
    return shards, RowSubset(held, rows[dist.rank :: dist.world_size])
