"""Where training metrics go: a JSONL file, TensorBoard, and a PNG of the loss curves at the end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from electra.core.atomic import write_failure
from electra.core.errors import ElectraError


class MetricsLogger:
    """Append metric rows to ``metrics.jsonl`` and (optionally) TensorBoard under ``output_dir``."""

    def __init__(self, output_dir: Path, tensorboard: bool = True, enabled: bool = True):
        self.enabled = enabled
        self.path = output_dir / "metrics.jsonl"
        self._writer = None
        if enabled:
            output_dir.mkdir(parents=True, exist_ok=True)
            drop_torn_line(self.path)
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(output_dir / "tensorboard"))

    def log(self, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"step": step, **{k: _json_number(v) for k, v in values.items()}}
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row, allow_nan=False) + "\n")
        except OSError as e:
            raise ElectraError(f"could not write {self.path}: {write_failure(e)}") from None
        if self._writer is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def drop_torn_line(path: Path) -> None:
    """Cut a last line left unfinished (a write that a full disk or a kill cut short), so that the rows
    appended after it stay one JSON object per line."""
    size = path.stat().st_size if path.is_file() else 0
    if size == 0:
        return
    with path.open("rb+") as f:
        end = size
        while end > 0:  # back from the end, a block at a time, to the last newline
            start = max(0, end - 65536)
            f.seek(start)
            block = f.read(end - start)
            if end == size and block.endswith(b"\n"):
                return
            if (cut := block.rfind(b"\n")) >= 0:
                f.truncate(start + cut + 1)
                return
            end = start
        f.truncate(0)


def _json_number(value: Any) -> Any:
    """A non-finite float as null: metrics.jsonl stays valid JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics JSONL file, one per step: rows of one step merge (training and held-out metrics),
    later values winning (after a resume, the re-run steps' values)."""
    rows: dict[int, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.setdefault(row["step"], {}).update(row)
    return [rows[k] for k in sorted(rows)]


def plot_curves(metrics_path: Path, out_png: Path, keys: tuple[str, ...], title: str = "") -> Path | None:
    """Plot the given metric columns against step, one panel each, with the held-out values (``eval_`` +
    key) as a second line where there are any; returns the PNG path."""
    rows = read_metrics(metrics_path)
    keys = tuple(k for k in keys if any(k in r for r in rows))
    if not rows or not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label="training")
        held = [(r["step"], r[f"eval_{key}"]) for r in rows if f"eval_{key}" in r]
        if held:
            ax.plot([p[0] for p in held], [p[1] for p in held], "o-", label="held-out")
            ax.legend()
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
