"""Using trained models: fill-mask and replaced-token detection on text, and a measure of detection quality."""

from electra.generation.detection_quality import DetectionQuality, detection_quality, plant, score_planted
from electra.generation.text import (
    Detection,
    MaskPrediction,
    TokenVerdict,
    WordScore,
    detect,
    detect_batch,
    fill_mask,
    fill_mask_batch,
    marked_words,
    render_detection,
)

__all__ = [
    "Detection",
    "DetectionQuality",
    "MaskPrediction",
    "TokenVerdict",
    "WordScore",
    "detect",
    "detect_batch",
    "detection_quality",
    "fill_mask",
    "fill_mask_batch",
    "marked_words",
    "plant",
    "render_detection",
    "score_planted",
]
