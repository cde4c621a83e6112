"""Tokenize a corpus and pack it into fixed-length examples stored in memory-mappable ``.npy`` shards.

Packing follows the official ELECTRA ``build_pretraining_dataset.py``: whole sentences of one document are
accumulated until a target length is reached, then written as ``[CLS] A [SEP] B [SEP]`` with the A/B split
at a sentence boundary. Examples never mix documents. Memory use is bounded by one chunk of documents and
one shard buffer, whatever the corpus size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from electra.core.atomic import write_failure
from electra.core.errors import ElectraError
from electra.core.files import read_json
from electra.data.corpus import SkipReport, find_input_files, iter_documents, split_sentences
from electra.data.tokenizer import special_token_ids, tokenizer_fingerprint

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
CHUNK_DOCUMENTS = 1000
CHUNK_CHARACTERS = 250_000  # bounds the memory of one tokenized chunk (~15 MB)
MIN_TARGET_LENGTH = 5


@dataclass
class PackingConfig:
    """How documents are cut into examples (see the module docstring)."""

    max_seq_length: int = 128
    short_seq_prob: float = 0.05  # probability of a random target length in [5, max_seq_length]
    single_segment_prob: float = 0.1  # probability of [CLS] A [SEP] with no B segment
    seed: int = 0
    shard_size: int = 100_000  # examples per shard file
    doc_per_line: bool = False
    text_field: str = "text"

    def validate(self) -> None:
        """Raise ElectraError naming the first bad field."""
        if not isinstance(self.max_seq_length, int) or self.max_seq_length < MIN_TARGET_LENGTH:
            raise ElectraError(f"packing.max_seq_length must be an integer >= {MIN_TARGET_LENGTH}, "
                               f"got {self.max_seq_length!r}")
        for name in ("short_seq_prob", "single_segment_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ElectraError(f"packing.{name} must be between 0 and 1, got {value!r}")
        if not isinstance(self.shard_size, int) or self.shard_size < 1:
            raise ElectraError(f"packing.shard_size must be a positive integer, got {self.shard_size!r}")


class SequencePacker:
    """Packs the tokenized sentences of one document at a time into examples (lists of token ids).

    Randomness (target lengths, single-segment choice, where the A/B split falls) comes from one numpy
    Generator seeded with ``cfg.seed``, so the same documents in the same order give the same examples.
    """

    def __init__(self, cfg: PackingConfig, cls_id: int, sep_id: int) -> None:
        self.cfg = cfg
        self.cls_id = cls_id
        self.sep_id = sep_id
        self.max_length = cfg.max_seq_length
        self.rng = np.random.default_rng(cfg.seed)
        self.target_length = self._draw_target()
        self.truncated_tokens = 0  # tokens dropped because a sentence overflowed its example

    def _draw_target(self) -> int:
        if self.rng.random() < self.cfg.short_seq_prob:
            return int(self.rng.integers(MIN_TARGET_LENGTH, self.max_length + 1))
        return self.max_length

    def pack_document(self, sentences: Iterable[Sequence[int]]) -> list[list[int]]:
        """Return the examples (with [CLS]/[SEP]) made from one document's tokenized sentences."""
        examples: list[list[int]] = []
        current: list[Sequence[int]] = []
        current_length = 0
        piece_size = self.max_length - 3
        for sentence in sentences:
            # A sentence longer than a whole example is cut into example-sized pieces rather than losing
            # everything past the first example; shorter ones stay whole.
            for start in range(0, len(sentence), piece_size):
                piece = sentence[start:start + piece_size]
                current.append(piece)
                current_length += len(piece)
                if current_length >= self.target_length - 3:
                    examples.append(self._make_example(current))
                    current, current_length = [], 0
        if current:
            examples.append(self._make_example(current))
        return examples

    def _make_example(self, sentences: list[Sequence[int]]) -> list[int]:
        target = self.target_length
        if self.rng.random() < self.cfg.single_segment_prob:
            first_target = float("inf")
        else:
            first_target = (target - 3) // 2
        first: list[int] = []
        second: list[int] = []
        for sentence in sentences:
            # A sentence joins A while A is empty, while it fits under A's target, or (half the time) when it
            # straddles the target; once B has begun every later sentence goes to B, keeping the order.
            if not second and (
                not first
                or len(first) + len(sentence) < first_target
                or (len(first) < first_target and self.rng.random() < 0.5)
            ):
                first.extend(sentence)
            else:
                second.extend(sentence)
        total = len(first) + len(second)
        first = first[: target - 2]
        second = second[: max(0, target - len(first) - 3)]
        self.truncated_tokens += total - len(first) - len(second)
        self.target_length = self._draw_target()
        example = [self.cls_id, *first, self.sep_id]
        if second:
            example.extend(second)
            example.append(self.sep_id)
        return example


class _ShardWriter:
    """Collects examples into a [shard_size, L] buffer and writes it out as ``shard-NNNNN.npy`` when full."""

    def __init__(self, directory: Path, max_length: int, dtype: np.dtype, pad_id: int, shard_size: int):
        self.directory = directory
        self.pad_id = pad_id
        self.buffer = np.full((shard_size, max_length), pad_id, dtype=dtype)
        self.filled = 0
        self.shards: list[dict[str, object]] = []
        self.num_examples = 0
        self.num_tokens = 0

    def add(self, example: list[int]) -> None:
        self.buffer[self.filled, : len(example)] = example
        self.filled += 1
        self.num_examples += 1
        self.num_tokens += len(example)
        if self.filled == len(self.buffer):
            self.flush()

    def flush(self) -> None:
        if self.filled == 0:
            return
        name = f"shard-{len(self.shards):05d}.npy"
        _write(lambda: np.save(self.directory / name, self.buffer[: self.filled]), self.directory)
        self.shards.append({"file": name, "num_examples": self.filled})
        self.buffer.fill(self.pad_id)
        self.filled = 0


def encode_sentences(tokenizer: Tokenizer, sentences: list[str]) -> list[list[int]]:
    """Token ids of each sentence, without special tokens (batched: the Rust side uses all cores)."""
    if not sentences:
        return []
    encode = getattr(tokenizer, "encode_batch_fast", None) or tokenizer.encode_batch
    return [e.ids for e in encode(sentences, add_special_tokens=False)]


def _encoding_copy(tokenizer: Tokenizer) -> Tokenizer:
    """A copy that neither pads nor truncates, and reads a literal "[SEP]" in the text as plain text."""
    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.no_truncation()
    if hasattr(tok, "encode_special_tokens"):
        tok.encode_special_tokens = True
    return tok


@contextlib.contextmanager
def _tokenizers_parallelism() -> Iterator[None]:
    """Let the Rust tokenizer use all cores while preparing, unless the user configured otherwise."""
    previous = os.environ.get("TOKENIZERS_PARALLELISM")
    if previous is None:
        os.environ["TOKENIZERS_PARALLELISM"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)


def _document_chunks(docs: Iterator[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    characters = 0
    for doc in docs:
        chunk.append(doc)
        characters += len(doc)
        if len(chunk) >= CHUNK_DOCUMENTS or characters >= CHUNK_CHARACTERS:
            yield chunk
            chunk, characters = [], 0
    if chunk:
        yield chunk


def cache_key(files: Sequence[Path], fingerprint: str, cfg: PackingConfig) -> str:
    """SHA-256 over the input files (path, size, mtime), the tokenizer and the packing settings."""
    entries = []
    for path in sorted(Path(f).resolve() for f in files):
        st = path.stat()
        entries.append([str(path), st.st_size, st.st_mtime_ns])
    payload = {"format": FORMAT_VERSION, "files": entries, "tokenizer": fingerprint, "packing": asdict(cfg)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def read_manifest(directory: Path) -> dict:
    """The parsed ``manifest.json`` of a prepared directory; ElectraError if missing or malformed."""
    path = Path(directory) / MANIFEST_NAME
    manifest = read_json(path, "prepared data manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise ElectraError(f"prepared data manifest {path} has an unknown format (expected format "
                           f"{FORMAT_VERSION})")
    for key in ("max_seq_length", "dtype", "vocab_size", "num_examples", "shards"):
        if key not in manifest:
            raise ElectraError(f"prepared data manifest {path} lacks the key '{key}'")
    return manifest


def _is_complete(directory: Path) -> bool:
    try:
        manifest = read_manifest(directory)
    except ElectraError:
        return False
    return all((directory / s["file"]).is_file() for s in manifest["shards"])


def _write(write: Callable[[], object], directory: Path) -> None:
    """Run ``write``; a failed write (full disk, file-size limit) as a one-line error naming the prepared
    data (its partial files are removed with their temporary directory)."""
    try:
        write()
    except OSError as e:
        raise ElectraError(f"could not write prepared data in {directory.parent}: {write_failure(e)}") from None


def _build(files: list[Path], tokenizer: Tokenizer, directory: Path, cfg: PackingConfig, fingerprint: str,
           progress: bool) -> dict:
    ids = special_token_ids(tokenizer)
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    dtype = np.dtype(np.uint16 if vocab_size <= 65535 else np.int32)
    report = SkipReport()
    packer = SequencePacker(cfg, ids["cls"], ids["sep"])
    writer = _ShardWriter(directory, cfg.max_seq_length, dtype, ids["pad"], cfg.shard_size)
    encoder = _encoding_copy(tokenizer)
    num_documents = 0
    num_input_tokens = 0
    started = time.perf_counter()
    docs = iter_documents(files, doc_per_line=cfg.doc_per_line, text_field=cfg.text_field, report=report)
    with _tokenizers_parallelism(), tqdm(disable=not progress, desc="preparing corpus", unit=" docs",
                                         dynamic_ncols=True, mininterval=0.5) as bar:
        for chunk in _document_chunks(docs):
            sentences: list[str] = []
            bounds = [0]
            for doc in chunk:
                sentences.extend(split_sentences(doc))
                bounds.append(len(sentences))
            encoded = encode_sentences(encoder, sentences)
            for d in range(len(chunk)):
                for example in packer.pack_document(encoded[bounds[d]:bounds[d + 1]]):
                    writer.add(example)
            num_documents += len(chunk)
            num_input_tokens += sum(len(e) for e in encoded)
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.update(len(chunk))
            bar.set_postfix_str(f"{num_input_tokens / elapsed:,.0f} tok/s, {writer.num_examples:,} examples",
                                refresh=False)
    writer.flush()
    if report.skipped:
        log.warning(report.summary())
    return {
        "format": FORMAT_VERSION,
        "max_seq_length": cfg.max_seq_length,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "special_token_ids": ids,
        "num_examples": writer.num_examples,
        "shards": writer.shards,
        "num_tokens": writer.num_tokens,
        "num_documents": num_documents,
        "num_truncated_tokens": packer.truncated_tokens,
        "skipped": [[str(p), reason] for p, reason in report.skipped],
        "packing": asdict(cfg),
        "tokenizer_fingerprint": fingerprint,
        "inputs": [str(f) for f in files],
    }


def prepare_corpus(inputs: list[Path], tokenizer: Tokenizer, out_dir: Path, cfg: PackingConfig,
                   progress: bool = True) -> Path:
    """Tokenize and pack the corpus at ``inputs`` (files or directories) into shards under ``out_dir``.

    The result lives in ``out_dir / key[:16]`` where ``key`` hashes the inputs' paths, sizes and mtimes,
    the tokenizer and ``cfg``; a complete earlier result there is reused without tokenizing again. The
    data is built in a temporary sibling directory and moved into place only when complete.
    """
    cfg.validate()
    files = find_input_files(inputs)
    fingerprint = tokenizer_fingerprint(tokenizer)
    key = cache_key(files, fingerprint, cfg)
    out_dir = Path(out_dir)
    final = out_dir / key[:16]
    if _is_complete(final):
        log.info("reusing prepared data at %s", final)
        return final
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", suffix=".tmp", dir=out_dir))
    except OSError as e:
        raise ElectraError(f"could not write prepared data in {out_dir}: {write_failure(e)}") from None
    moved = False
    try:
        manifest = _build(files, tokenizer, tmp, cfg, fingerprint, progress)
        _write(lambda: (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8"),
               tmp)  # fmt: skip
        if final.exists() and not _is_complete(final):
            shutil.rmtree(final)  # left over from something other than this function: replace it
        try:
            os.replace(tmp, final)
            moved = True
        except OSError:
            if not _is_complete(final):  # a concurrent run finishing first is fine; anything else is not
                raise
            log.info("reusing prepared data at %s (prepared concurrently)", final)
    finally:
        if not moved:
            shutil.rmtree(tmp, ignore_errors=True)
            if created and not any(out_dir.iterdir()):
                out_dir.rmdir()
    log.info("prepared %d examples (%d tokens) from %d documents at %s", manifest["num_examples"],
             manifest["num_tokens"], manifest["num_documents"], final)
    return final
