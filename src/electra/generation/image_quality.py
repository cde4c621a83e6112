"""How good generated grey images are, judged by a classifier trained on real ones (scikit-learn's MLP):

- **FD**: the Fréchet distance between the Gaussians fitted to real and generated images in the classifier's
  hidden layer (as FID does with Inception features; lower is better, 0 for the real distribution itself);
- **accuracy**: the share of class-conditional samples the classifier assigns to the class they were drawn for;
- **diversity**: the mean distance between two samples of one class in that feature space, over the same for real
  images (1: as varied as real images; near 0: one image per class, mode collapse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from sklearn.neural_network import MLPClassifier


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))``."""
    root = linalg.sqrtm(cov1 @ cov2)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2 * root))


@dataclass
class ImageScores:
    fd: float
    accuracy: float | None
    diversity: float


class ImageJudge:
    """A classifier of real images and the statistics of real images in its feature space."""

    def __init__(self, train_images: np.ndarray, train_labels: np.ndarray, reference: np.ndarray,
                 reference_labels: np.ndarray, seed: int = 0, hidden: int = 128):  # fmt: skip
        self.classifier = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=40, early_stopping=True,
                                        random_state=seed)  # fmt: skip
        self.classifier.fit(self._flat(train_images), train_labels)
        self.real_accuracy = float(self.classifier.score(self._flat(reference), reference_labels))
        feats = self.features(reference)
        self.mean, self.cov = feats.mean(0), np.cov(feats, rowvar=False)
        self.real_spread = self._spread(feats, reference_labels, seed)
        self.seed = seed

    @staticmethod
    def _flat(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float32) / 255.0

    def features(self, images: np.ndarray) -> np.ndarray:
        """The classifier's hidden layer (ReLU) for uint8 images [N, H, W]."""
        x = self._flat(images)
        return np.maximum(x @ self.classifier.coefs_[0] + self.classifier.intercepts_[0], 0.0)

    @staticmethod
    def _spread(feats: np.ndarray, labels: np.ndarray, seed: int, pairs: int = 4000) -> float:
        """Mean distance between random pairs of images of one class."""
        rng = np.random.default_rng(seed)
        classes = [c for c in np.unique(labels) if (labels == c).sum() >= 2]
        total, count = 0.0, 0
        for c in classes:
            idx = np.flatnonzero(labels == c)
            per = max(pairs // len(classes), 1)
            a, b = rng.choice(idx, per), rng.choice(idx, per)
            total += float(np.linalg.norm(feats[a] - feats[b], axis=1).sum())
            count += per
        return total / max(count, 1)

    def score(self, images: np.ndarray, labels: np.ndarray) -> ImageScores:
        """FD, class accuracy (None for unconditional samples, labels -1) and diversity of ``images``."""
        feats = self.features(images)
        fd = frechet_distance(feats.mean(0), np.cov(feats, rowvar=False), self.mean, self.cov)
        conditional = bool((labels >= 0).all())
        accuracy = float((self.classifier.predict(self._flat(images)) == labels).mean()) if conditional else None
        spread_labels = labels if conditional else self.classifier.predict(self._flat(images))
        return ImageScores(fd, accuracy, self._spread(feats, spread_labels, self.seed) / self.real_spread)
