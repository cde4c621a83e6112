"""Interoperability with Hugging Face ``transformers`` checkpoints (ELECTRA and BERT), both ways.

Layers: pure state-dict adapters (:mod:`~electra.interop.adapters`), config translation
(:mod:`~electra.interop.hf_config`), files and tokenizers (:mod:`~electra.interop.hf_files`), and the two
directions (:mod:`~electra.interop.export`, :mod:`~electra.interop.load`).
"""

from electra.interop.adapters import ADAPTERS, BertAdapter, ElectraAdapter, StateDictAdapter
from electra.interop.export import export_hf, hf_state_dict, save_hf
from electra.interop.hf_config import from_hf_config, to_hf_config
from electra.interop.load import ImportReport, import_hf, load_hf, load_hf_with_report

__all__ = [
    "ADAPTERS",
    "BertAdapter",
    "ElectraAdapter",
    "ImportReport",
    "StateDictAdapter",
    "export_hf",
    "from_hf_config",
    "hf_state_dict",
    "import_hf",
    "load_hf",
    "load_hf_with_report",
    "save_hf",
    "to_hf_config",
]
