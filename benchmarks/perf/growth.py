"""A curve's growth exponent: the slope of log figure against log size (1.0 is linear)."""

from __future__ import annotations

import math

import numpy as np


def exponent(sizes: list[int], values: list[float]) -> float:
    """The least-squares slope of log value against log size (NaN with fewer than two)."""
    keep = [(math.log(s), math.log(v)) for s, v in zip(sizes, values, strict=True) if v > 0]
    if len(keep) < 2:
        return math.nan
    x, y = np.array(keep).T
    return float(np.polyfit(x, y, 1)[0])
