"""Tagging schemes for token classification: detect IOB1 / IOB2 / BIOES and convert between them.

Internally every tag sequence is IOB2 (``B-X`` opens every entity, ``I-X`` continues it). Files in
IOB1 (``I-X`` opens an entity unless it follows another ``X`` entity) or BIOES / BILOU (``S-X`` single,
``E-X`` / ``L-X`` last) are converted on reading; predictions can be converted back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from electra.core.errors import ElectraError

SCHEMES = ("iob1", "iob2", "bioes")


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``; raises ValueError on anything else."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or not kind or prefix not in ("B", "I", "E", "S", "L", "U"):
        raise ValueError(tag)
    return prefix, kind


def check_tags(tags: Sequence[str], where: str) -> None:
    """Raise :class:`ElectraError` naming ``where`` for the first tag that is neither ``O`` nor ``P-TYPE``."""
    for tag in tags:
        try:
            split_tag(tag)
        except ValueError:
            raise ElectraError(
                f"{where}: tag {tag!r} is not 'O' or PREFIX-TYPE with PREFIX in B, I, E, S (L, U)"
            ) from None


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """``bioes`` if any S/E/L/U prefix is used, ``iob1`` if some entity starts with ``I-``, else ``iob2``."""
    iob1 = False
    for tags in sequences:
        prev_kind = ""
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in ("S", "E", "L", "U"):
                return "bioes"
            if prefix == "I" and kind != prev_kind:
                iob1 = True
            prev_kind = kind
    return "iob1" if iob1 else "iob2"


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence's tags from ``scheme`` to IOB2."""
    out: list[str] = []
    prev_kind = ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "O":
            out.append("O")
        elif scheme == "bioes":
            out.append(f"B-{kind}" if prefix in ("B", "S", "U") else f"I-{kind}")
        elif scheme == "iob1" and prefix == "I" and kind != prev_kind:
            out.append(f"B-{kind}")
        else:
            out.append(f"{prefix}-{kind}" if prefix in ("B", "I") else f"B-{kind}")
        prev_kind = kind if prefix not in ("E", "S", "L", "U") else ""
    return out


def from_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence's IOB2 tags (as predicted; ill-formed ``I-`` starts allowed) to ``scheme``."""
    spans: list[tuple[int, int, str]] = []  # entities as [start, end) with type
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == "O":
            continue
        if prefix == "I" and spans and spans[-1][1] == i and spans[-1][2] == kind:
            spans[-1] = (spans[-1][0], i + 1, kind)
        else:
            spans.append((i, i + 1, kind))
    out = ["O"] * len(tags)
    for start, end, kind in spans:
        for i in range(start, end):
            if scheme == "bioes":
                out[i] = (
                    "S" if end - start == 1 else "B" if i == start else "E" if i == end - 1 else "I"
                ) + f"-{kind}"
            elif scheme == "iob1":
                adjacent = start > 0 and out[start - 1] != "O" and split_tag(out[start - 1])[1] == kind
                out[i] = ("B" if i == start and adjacent else "I") + f"-{kind}"
            else:
                out[i] = ("B" if i == start else "I") + f"-{kind}"
    return out
