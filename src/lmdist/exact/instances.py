"""Random finite instances for checking theorems: sparse Dirichlet log-distributions with holes, and
random rewards. numpy only. Every chapter that checks a claim "on random instances" draws them here,
so that all of them cover the same ground — peaked and flat distributions, and outcomes of
probability exactly 0 (holes), which is where closed forms usually break.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lmdist.exact import checks
from lmdist.exact import infotheory as it

#: Probability that an outcome of a random distribution is a hole (probability exactly 0), each
#: outcome independently. Small enough that short vectors often have full support, large enough that
#: most instances of ten or more outcomes have a hole.
HOLE_PROB = 0.1

#: The smallest gamma draw kept: tiny concentrations underflow to exact zeros, which would be holes
#: at a rate nobody chose.
_GAMMA_FLOOR = 1e-300


def random_logdist(rng: np.random.Generator, n: int, *, concentration: float, hole_prob: float = HOLE_PROB,
                   support: ArrayLike | None = None) -> np.ndarray:
    """log p for p ~ Dirichlet(concentration · 1) on the outcomes that are not holes.

    Each of the ``n`` outcomes (of those in ``support``, a boolean mask; all if None) is a hole with
    probability ``hole_prob``, independently; outcomes outside ``support`` are always holes. At least
    one outcome is kept: if every candidate was drawn a hole, one of them, uniformly, is kept. The
    weights are gamma(concentration) draws floored at 1e-300 (so the only zeros are the holes),
    normalized: log p_y = log g_y - log sum_y' g_y' on the kept outcomes, -inf on the holes.
    """
    n = checks.integer(n, "n", lo=1)
    conc = checks.real(concentration, "concentration", lo=0.0, open_lo=True)
    hole_prob = checks.real(hole_prob, "hole_prob", lo=0.0, hi=1.0)
    mask = np.ones(n, bool) if support is None else np.asarray(support, dtype=bool)
    if mask.shape != (n,) or not mask.any():
        raise ValueError(f"support must be a boolean mask of shape ({n},) with at least one True, got {support!r}")
    g = np.maximum(rng.gamma(conc, size=n), _GAMMA_FLOOR)
    keep = mask & (rng.random(n) >= hole_prob)
    if not keep.any():
        keep[rng.choice(np.flatnonzero(mask))] = True
    with np.errstate(divide="ignore"):
        logw = np.where(keep, np.log(g), -np.inf)
    return it.normalize(logw)


def random_reward(rng: np.random.Generator, n: int, *, scale: float = 1.0) -> np.ndarray:
    """n finite rewards r(y) ~ Normal(0, scale^2), independently."""
    n = checks.integer(n, "n", lo=1)
    scale = checks.real(scale, "scale", lo=0.0, open_lo=True)
    return rng.normal(0.0, scale, size=n)
