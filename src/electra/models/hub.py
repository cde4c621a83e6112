"""``save_pretrained`` / ``from_pretrained`` on our models, so users never handle the file layout.

``save_pretrained`` writes the Hugging Face ``transformers`` ELECTRA layout (see
:mod:`electra.interop.hf`); ``from_pretrained`` reads that layout, BERT checkpoints, or this
project's own checkpoints and run directories.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_M = TypeVar("_M", bound="HubMixin")


class HubMixin:
    """Adds :meth:`save_pretrained` and :meth:`from_pretrained` to an ``nn.Module`` model class."""

    def save_pretrained(
        self,
        directory: str | Path,
        tokenizer: Tokenizer | str | Path | None = None,
        trim_vocab: bool = False,
    ) -> dict[str, Path]:
        """Write this model as ``transformers`` checkpoint(s) into ``directory``; returns them by role.

        A discriminator becomes ``ElectraForPreTraining``, a masked LM ``ElectraForMaskedLM``; an
        ELECTRA model writes both, to ``directory/discriminator`` and ``directory/generator``. Pass a
        ``tokenizer`` (object or path) to add the tokenizer files ``AutoTokenizer`` needs.
        """
        from electra.interop.hf import save_hf

        model: Any = self
        return save_hf(model, directory, tokenizer=tokenizer, trim_vocab=trim_vocab)

    @classmethod
    def from_pretrained(cls: type[_M], directory: str | Path) -> _M:
        """Load this class from a ``transformers`` ELECTRA/BERT directory, an export, or our checkpoint."""
        from electra.interop.hf import load_as

        model_cls: Any = cls
        return load_as(model_cls, directory)
