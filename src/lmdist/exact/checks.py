"""Input checks shared by every module of :mod:`lmdist.exact`: one place that says what a valid
argument is, and one wording for the error that names the parameter and what it allows.

Each function returns the value converted (a float64 array, a Python int or float) so that callers
write ``x = checks.logprobs(x, "logp")`` once at the top and never wrap with ``np.asarray`` again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

MASS_TOL = 1e-6  # |sum p - 1| allowed of a "normalized" distribution (float32 inputs round at ~1e-7)


def array(x: ArrayLike, name: str, *, ndim: int | None = None) -> np.ndarray:
    """A non-empty float64 array with no NaN and no +inf (−inf allowed: a log of zero).

    ``ndim`` fixes the number of axes; otherwise any array with a non-empty last axis is accepted.
    """
    a = np.asarray(x, dtype=np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {a.shape}")
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty array (values on the last axis), got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError(f"{name} holds NaN")
    if np.isposinf(a).any():
        raise ValueError(f"{name} holds +inf")
    return a


def finite_vector(x: ArrayLike, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """A 1-D float64 array of finite numbers (non-empty unless ``allow_empty``)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or (a.size == 0 and not allow_empty) or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}1-D array of finite numbers, "
                         f"got shape {a.shape}")
    return a


def logprobs(x: ArrayLike, name: str, *, normalized: bool = True) -> np.ndarray:
    """Log-probabilities along the last axis: no NaN, no +inf, and (if ``normalized``)
    |log-sum-exp − 0| within :data:`MASS_TOL` of total mass one in every row."""
    a = array(x, name)
    if normalized:
        mass = np.exp(logsumexp(a, axis=-1))
        off = np.abs(mass - 1.0)
        if np.any(off > MASS_TOL):
            raise ValueError(f"{name} is not normalized along the last axis (total mass off by "
                             f"{float(off.max()):.3g}); pass it through infotheory.normalize first")
    return a


def logprob_pair(logp: ArrayLike, logq: ArrayLike, names: tuple[str, str] = ("logp", "logq"), *,
                 normalized: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two log-probability arrays over the same support (normalized along the last axis unless
    ``normalized=False``: e.g. per-string log-probabilities of a sample), broadcast to one shape."""
    lp, lq = logprobs(logp, names[0], normalized=normalized), logprobs(logq, names[1], normalized=normalized)
    if lp.shape[-1] != lq.shape[-1]:
        raise ValueError(f"{names[0]} and {names[1]} differ in support size: {lp.shape} vs {lq.shape}")
    try:
        a, b = np.broadcast_arrays(lp, lq)
    except ValueError as err:
        raise ValueError(f"{names[0]} and {names[1]} shapes do not broadcast: {lp.shape} vs {lq.shape}") from err
    return a, b


def integer(value: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An ``int`` (numpy integers accepted, bools not) in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {v}")
    return v


def real(value: Any, name: str, *, lo: float | None = None, hi: float | None = None,
         allow_inf: bool = False, open_lo: bool = False) -> float:
    """A real number (not NaN; ±inf only if ``allow_inf``) in [lo, hi] (or (lo, hi] if ``open_lo``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number{_range(lo, hi, open_lo)}, got {value!r}")
    v = float(value)
    bad = math.isnan(v) or (math.isinf(v) and not allow_inf)
    bad = bad or (lo is not None and (v <= lo if open_lo else v < lo)) or (hi is not None and v > hi)
    if bad:
        kind = "number" if allow_inf else "finite number"
        raise ValueError(f"{name} must be a {kind}{_range(lo, hi, open_lo)}, got {value!r}")
    return v


def _range(lo: float | None, hi: float | None, open_lo: bool = False) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" {'>' if open_lo else '>='} {lo}"
    if lo is None:
        return f" <= {hi}"
    return f" in {'(' if open_lo else '['}{lo}, {hi}]"


def as_result(x: Any) -> Any:
    """A numpy array stays an array; a 0-d result becomes a numpy float64 scalar. Functions of
    :mod:`lmdist.exact` return through this, so callers never need ``np.asarray`` or ``float``."""
    a = np.asarray(x)
    return np.float64(a) if a.ndim == 0 and a.dtype.kind == "f" else (a[()] if a.ndim == 0 else a)
