"""Summary statistics shared by reports and benchmarks."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    data = list(values)
    if not data:
        raise ValueError("percentile of an empty sample")
    return float(np.percentile(data, q))
