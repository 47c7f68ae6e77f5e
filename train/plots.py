"""PNG pictures of a run: learning curves and confusion matrix, drawn off-screen."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay


def _figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no display needed, no global backend switched."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def learning_curves(history: dict[str, list[float]], path: Path, title: str) -> None:
    """Loss and accuracy per epoch, training and validation side by side."""
    figure = _figure(10, 4)
    for ax, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if key in history:
                values = history[key]
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        if metric == "accuracy":
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    figure.savefig(path, dpi=100)


def confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: Path,
                     title: str) -> None:
    """Counts of true (rows) against predicted (columns) classes."""
    figure = _figure(1.2 * len(class_names) + 3, 1.2 * len(class_names) + 2)
    ax = figure.subplots()
    ConfusionMatrixDisplay(confusion_matrix=np.asarray(matrix),
                           display_labels=list(class_names)).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45)
    ax.set_title(title)
    figure.savefig(path, dpi=100)
