"""Pictures of a run's training data for the MLflow UI: the lineage at a glance."""

from __future__ import annotations

import collections
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from idphoto.data.lineage import ACCEPTED


def lineage_chart(rows: Sequence[Mapping[str, Any]], title: str) -> np.ndarray:
    """Two bar charts of a dataset's lineage rows: accepted and rejected photos by licence
    class, and the rejected ones by reason.

    Args:
        rows: lineage rows (`lineage.parquet` as dicts).
        title: the chart's title (the dataset's name).

    Returns:
        The chart as an (H, W, 3) uint8 image.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: draw into memory
    import matplotlib.pyplot as plt
    from PIL import Image

    by_class = collections.Counter((r["class"] or "none", r["decision"]) for r in rows)
    classes = sorted(
        {name for name, _ in by_class},
        key=lambda n: -sum(by_class[(n, d)] for d in ("accepted", "rejected")),
    )
    reasons = collections.Counter(r["reason"] for r in rows if r["decision"] != ACCEPTED)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 0.32 * max(len(classes), 8) + 1.2))
    accepted = [by_class[(n, ACCEPTED)] for n in classes]
    rejected = [by_class[(n, "rejected")] for n in classes]
    positions = np.arange(len(classes))
    left.barh(positions, accepted, color="#2e7d32", label="accepted")
    dropped = left.barh(positions, rejected, left=accepted, color="#c62828", label="rejected")
    counts = [f"{a} / {r}" for a, r in zip(accepted, rejected, strict=True)]
    left.bar_label(dropped, labels=counts, fontsize=8, padding=3)  # also for bars too thin to see
    left.margins(x=0.18)
    left.set_yticks(positions, classes)
    left.invert_yaxis()
    left.set_xlabel("manifest rows")
    left.set_title("by licence class (accepted / rejected)")
    left.legend(loc="lower right")
    names = [name for name, _ in reasons.most_common()]
    bars = right.barh(np.arange(len(names)), [reasons[n] for n in names], color="#c62828")
    right.bar_label(bars, fontsize=8, padding=3)
    right.margins(x=0.12)
    right.set_yticks(np.arange(len(names)), names)
    right.invert_yaxis()
    right.set_xlabel("rejected rows")
    right.set_title("rejections by reason")
    total = sum(accepted)
    figure.suptitle(f"{title}: {total} of {len(rows)} manifest rows accepted")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return np.asarray(Image.open(buffer).convert("RGB"))
