"""Interoperability with other libraries' checkpoints (Hugging Face ``transformers``)."""

from electra.interop.hf import ImportReport, export_hf, import_hf, load_hf, load_hf_with_report, save_hf

__all__ = ["ImportReport", "export_hf", "import_hf", "load_hf", "load_hf_with_report", "save_hf"]
