"""WordPiece tokenizers: train, save, load, and identify them.

Every vocabulary trained here starts with ``SPECIAL_TOKENS`` at ids 0..4, so ``[PAD]`` is 0. Vocabularies
brought by the user (a BERT ``vocab.txt`` or a Hugging Face ``tokenizer.json``) only need to contain the
special tokens somewhere; :func:`special_token_ids` looks them up.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from electra.core.atomic import write_text_atomic
from electra.core.errors import ElectraError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_SPECIAL_KEYS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


def _bert_pipeline(model: models.Model, lowercase: bool, cls_id: int, sep_id: int) -> Tokenizer:
    """Wrap a WordPiece ``model`` in the BERT normalizer, pre-tokenizer, decoder and post-processor."""
    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tok


def train_wordpiece(
    files: list[Path] | Iterable[str],
    vocab_size: int = 30522,
    lowercase: bool = True,
    min_frequency: int = 2,
) -> Tokenizer:
    """Train a BERT-style WordPiece tokenizer.

    ``files`` is either a list of ``Path`` objects naming plain-text files (read line by line by the Rust
    trainer) or any iterable of texts (strings, including a list of strings), e.g.
    :func:`electra.data.corpus.iter_documents`. The special tokens get ids 0..4 in the order of
    ``SPECIAL_TOKENS``.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ElectraError(f"tokenizer vocab_size must exceed {len(SPECIAL_TOKENS)}, got {vocab_size}")
    model = models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100)
    tok = _bert_pipeline(model, lowercase, cls_id=SPECIAL_TOKENS.index("[CLS]"),
                         sep_id=SPECIAL_TOKENS.index("[SEP]"))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    if isinstance(files, (list, tuple)) and files and all(isinstance(f, Path) for f in files):
        paths = list(files)
        for p in paths:
            if not p.is_file():
                raise ElectraError(f"tokenizer training file not found: {p}")
        tok.train([str(p) for p in paths], trainer=trainer)
    else:
        tok.train_from_iterator(iter(files), trainer=trainer)
    for i, token in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(token) != i:  # pragma: no cover - guaranteed by the trainer
            raise RuntimeError(f"special token {token} did not get id {i}")
    return tok


def tokenizer_files(tok: Tokenizer) -> dict[str, str]:
    """``tokenizer.json`` and ``vocab.txt`` (one token per line, in id order) as texts, keyed by file name:
    what every directory holding a tokenizer gets (checkpoints, exports, ``electra tokenizer train``)."""
    vocab = tok.get_vocab(with_added_tokens=True)
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise ElectraError("cannot write vocab.txt: the tokenizer's ids are not contiguous")
    return {"tokenizer.json": tok.to_str(pretty=True), "vocab.txt": "".join(t + "\n" for t, _ in by_id)}


def save_tokenizer(tok: Tokenizer, directory: Path) -> None:
    """Write :func:`tokenizer_files` into ``directory`` (each file atomically; a directory this call
    created is removed again when a write fails)."""
    directory = Path(directory)
    created = not directory.exists()
    try:
        for name, text in tokenizer_files(tok).items():
            write_text_atomic(directory / name, text)
    except ElectraError:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise


def _check_specials(tok: Tokenizer, source: Path) -> None:
    """A one-line error unless ``tok`` has BERT's special tokens, or is a translation tokenizer
    (:data:`SEQ2SEQ_SPECIAL_TOKENS`)."""
    if all(tok.token_to_id(t) is not None for t in SEQ2SEQ_SPECIAL_TOKENS):
        return
    for token in SPECIAL_TOKENS:
        if tok.token_to_id(token) is None:
            raise ElectraError(f"tokenizer {source} lacks the special token {token}")


def _read_vocab(path: Path) -> dict[str, int]:
    vocab: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ElectraError(f"vocabulary {path} is not UTF-8 text ({e.reason})") from None
    for lineno, line in enumerate(lines, 1):
        token = line.rstrip("\r\n")
        if token.strip() == "":
            raise ElectraError(f"vocabulary {path} line {lineno} is empty")
        if token in vocab:
            raise ElectraError(f"vocabulary {path} line {lineno} repeats the token {token!r}")
        vocab[token] = len(vocab)
    for token in SPECIAL_TOKENS:
        if token not in vocab:
            raise ElectraError(f"vocabulary {path} lacks the special token {token}")
    return vocab


def _vocab_is_cased(vocab: dict[str, int]) -> bool:
    """True when some ordinary token holds an upper-case letter (an uncased vocab has none)."""
    for token in vocab:
        if token.startswith("[") and token.endswith("]"):
            continue
        if any(c.isupper() for c in token):
            return True
    return False


def load_tokenizer(path: Path, lowercase: bool | None = None) -> Tokenizer:
    """Load a tokenizer from a directory, a ``tokenizer.json`` or a BERT ``vocab.txt``.

    A directory is searched for ``tokenizer.json`` first, then ``vocab.txt``. From a ``vocab.txt`` a BERT
    WordPiece tokenizer is built; ``lowercase`` says whether it lower-cases (and strips accents). When it is
    None it is True unless the vocabulary holds upper-case tokens (a cased vocabulary). ``lowercase`` is
    ignored for ``tokenizer.json``, which records its own normalizer.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "tokenizer.json").is_file():
            path = path / "tokenizer.json"
        elif (path / "vocab.txt").is_file():
            path = path / "vocab.txt"
        else:
            raise ElectraError(f"no tokenizer.json or vocab.txt in tokenizer directory {path}")
    elif not path.exists():
        raise ElectraError(f"tokenizer file not found: {path}")

    if path.suffix == ".json":
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as e:  # the Rust side raises a plain Exception
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ElectraError(f"cannot read tokenizer {path}: {reason}") from None
        # Lengths are this project's business (packing, truncation, dynamic padding): a tokenizer.json that
        # pads or truncates by itself (sentence-transformers' pads every text to 128) would corrupt both.
        tok.no_padding()
        tok.no_truncation()
        _check_specials(tok, path)
        return tok

    vocab = _read_vocab(path)
    if lowercase is None:
        lowercase = not _vocab_is_cased(vocab)
    model = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                             max_input_chars_per_word=100)
    return _bert_pipeline(model, lowercase, cls_id=vocab["[CLS]"], sep_id=vocab["[SEP]"])


def special_token_ids(tok: Tokenizer) -> dict[str, int]:
    """Ids of the special tokens, keyed ``pad``, ``unk``, ``cls``, ``sep``, ``mask``."""
    ids: dict[str, int] = {}
    for key, token in _SPECIAL_KEYS.items():
        i = tok.token_to_id(token)
        if i is None:
            raise ElectraError(f"tokenizer lacks the special token {token}")
        ids[key] = i
    return ids


def tokenizer_fingerprint(tok: Tokenizer) -> str:
    """SHA-256 (hex) of the tokenizer's JSON serialisation: equal tokenizers give equal fingerprints."""
    return hashlib.sha256(tok.to_str().encode("utf-8")).hexdigest()



SEQ2SEQ_SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>"]  # ids 0..3: padding, unknown, start, end


def train_subword(texts: Iterable[str], vocab_size: int = 8000, kind: str = "bpe",
                  min_frequency: int = 2) -> Tokenizer:  # fmt: skip
    """A SentencePiece-style sub-word tokenizer for translation (``kind`` ``bpe`` or ``unigram``): NFKC,
    words marked by ``▁`` so that decoding restores the spaces (BLEU is computed on detokenised text),
    :data:`SEQ2SEQ_SPECIAL_TOKENS` at ids 0..3. Train it on both sides' texts for a joint vocabulary."""
    if vocab_size <= len(SEQ2SEQ_SPECIAL_TOKENS):
        raise ElectraError(f"tokenizer vocab_size must exceed {len(SEQ2SEQ_SPECIAL_TOKENS)}, got {vocab_size}")
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                      special_tokens=list(SEQ2SEQ_SPECIAL_TOKENS))  # fmt: skip
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, unk_token="<unk>", show_progress=False,
                                          special_tokens=list(SEQ2SEQ_SPECIAL_TOKENS))  # fmt: skip
    else:
        raise ElectraError(f"unknown tokenizer kind {kind!r}; expected bpe or unigram")
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(iter(texts), trainer=trainer)
    for i, token in enumerate(SEQ2SEQ_SPECIAL_TOKENS):
        if tok.token_to_id(token) != i:  # pragma: no cover - guaranteed by the trainers
            raise RuntimeError(f"special token {token} did not get id {i}")
    return tok
