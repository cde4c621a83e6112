"""Using trained models to produce text: fill-mask and replaced-token detection."""

from electra.generation.text import MaskPrediction, TokenVerdict, detect, fill_mask, render_detection

__all__ = ["MaskPrediction", "TokenVerdict", "detect", "fill_mask", "render_detection"]
