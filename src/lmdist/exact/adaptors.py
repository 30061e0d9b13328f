"""Sampling adaptors: transforms of a next-token distribution (numpy only).

A sampling adaptor maps the *normalized* next-token distribution p(. | y_<t) to unnormalized
weights γ̃(p)(v) >= 0 over the vocabulary; sampling with it draws the next token from the
*locally normalized* adapted distribution

    q̃_t(v) = γ̃(p_t)(v) / Z_t,        Z_t = sum_v' γ̃(p_t)(v'),

and the *globally normalized* adapted distribution over whole strings is

    π(y) ∝ prod_t γ̃(p(. | y_<t))(y_t).

Because γ̃ acts on normalized probabilities (p^{1/T}, p · 1[kept]) and not on raw logits, π is well
defined: logits are only defined up to a per-prefix constant, which a temperature would turn into a
per-prefix factor. Everything is in log space: an adaptor takes ``logp`` (normalized along the last
axis, ``-inf`` for zero probability) and returns ``log γ̃`` (``-inf`` for removed tokens);
:meth:`Adaptor.normalize` gives ``log q̃`` and :meth:`Adaptor.log_normalizer` gives ``log Z``, so
that log π(y) - log q̃(y) = sum_t log Z_t (the importance weight of IMHA).

Each truncation decides what to keep from the *normalized* version of its input, so in a composition
``compose(a, b)`` the adaptor ``b`` sees ``a``'s unnormalized output and normalizes it first, exactly
as transformers' logits warpers do one after the other. :func:`from_spec` builds a composition from
transformers' generation parameters, in transformers' order: temperature, top_k, top_p, min_p,
typical_p, epsilon_cutoff, eta_cutoff. Ties are resolved as transformers does (stated per adaptor),
and like transformers every truncation keeps at least one token.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import checks, infotheory

#: transformers' order of its sampling warpers (``GenerationMixin._get_logits_processor``).
SPEC_ORDER = ("temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff")
#: Short names accepted by :func:`from_spec` for the transformers names.
ALIASES = {"epsilon": "epsilon_cutoff", "eta": "eta_cutoff", "typical": "typical_p", "nucleus": "top_p"}


# --------------------------------------------------------------------------- helpers

def _lognorm(logw: np.ndarray) -> np.ndarray:
    """log-softmax along the last axis of weights that have at least one finite entry per row."""
    return logw - logsumexp(logw, axis=-1, keepdims=True)


def _unsort(mask_sorted: np.ndarray, order: np.ndarray) -> np.ndarray:
    """A mask computed on each row sorted by ``order``, put back in the rows' own order."""
    out = np.empty_like(mask_sorted)
    np.put_along_axis(out, order, mask_sorted, axis=-1)
    return out


def _row_max(logw: np.ndarray) -> np.ndarray:
    return np.max(logw, axis=-1, keepdims=True)


def _in_open_unit(value: Any, name: str) -> float:
    v = checks.real(value, name, lo=0.0, hi=1.0, open_lo=True)
    if v == 1.0:
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")
    return v


# --------------------------------------------------------------------------- the interface

class Adaptor(ABC):
    """A sampling adaptor γ̃: normalized log p -> unnormalized log γ̃(p), along the last axis."""

    def __call__(self, logp: Any) -> np.ndarray:
        """log γ̃(p): the unnormalized adapted log-weights (``-inf`` for removed tokens)."""
        x = checks.logprobs(logp, "logp")
        if not any(isinstance(s, Temperature) for s in self.steps):
            return self._transform(x)  # truncations only: γ̃ = p exactly on the kept tokens
        m = _row_max(x)
        with np.errstate(over="ignore", invalid="ignore"):
            # Truncations ignore a per-row constant and a temperature divides it by T, so
            # log γ̃(p) = log γ̃(p - m) + m · prod(1/T): every step then sees a row whose max is 0.
            offset = np.where(m == 0.0, 0.0, m * self.inverse_temperature)
            return self._transform(x - m) + offset

    def normalize(self, logp: Any) -> np.ndarray:
        """log q̃ = log γ̃(p) - log sum_v γ̃(p)(v): the locally normalized adapted distribution.

        Computed from p / max_v p (every truncation is invariant to rescaling its input and a
        temperature only changes the row's constant), so it is finite on the kept tokens even
        where γ̃ itself underflows (e.g. p^{1/T} at T = 1e-300).
        """
        x = checks.logprobs(logp, "logp")
        with np.errstate(over="ignore", invalid="ignore"):
            return _lognorm(self._transform(x - _row_max(x)))

    def log_normalizer(self, logp: Any) -> np.float64 | np.ndarray:
        """log Z = log sum_v γ̃(p)(v) per row, so that log γ̃ = log q̃ + log Z."""
        return checks.as_result(logsumexp(self(logp), axis=-1))

    @abstractmethod
    def _transform(self, logw: np.ndarray) -> np.ndarray:
        """The adaptor on arbitrary log-weights (float64, last axis the vocabulary, a finite max per
        row): truncations decide on the normalized weights and return the input with removed
        entries set to -inf; a temperature divides by T."""

    @property
    @abstractmethod
    def steps(self) -> tuple[Adaptor, ...]:
        """The elementary adaptors applied one after the other."""

    def spec(self) -> str:
        """The transformers-style description, e.g. ``"temperature=0.7,top_k=50"`` (application order)."""
        return ",".join(s.spec() for s in self.steps)

    @property
    def inverse_temperature(self) -> float:
        """prod over the steps of 1/T: log γ̃(p + c) = log γ̃(p) + c · inverse_temperature."""
        return math.prod(1.0 / s.temperature for s in self.steps if isinstance(s, Temperature))


@dataclass(frozen=True)
class Identity(Adaptor):
    """γ̃(p) = p: ancestral sampling from the model itself."""

    def _transform(self, logw: np.ndarray) -> np.ndarray:
        return logw.copy()

    @property
    def steps(self) -> tuple[Adaptor, ...]:
        return ()

    def spec(self) -> str:
        return ""


@dataclass(frozen=True)
class Temperature(Adaptor):
    """γ̃(p)(v) = p(v)^{1/T}, i.e. log γ̃ = log p / T, with T in (0, ∞).

    T -> 0 tends to greedy decoding (all mass on the argmax), T -> ∞ to the uniform distribution on
    supp p; zero-probability tokens stay at zero (-inf / T = -inf).
    """

    temperature: float

    def __post_init__(self) -> None:
        t = checks.real(self.temperature, "temperature", lo=0.0, open_lo=True)
        object.__setattr__(self, "temperature", t)

    def _transform(self, logw: np.ndarray) -> np.ndarray:
        return logw / self.temperature

    @property
    def steps(self) -> tuple[Adaptor, ...]:
        return (self,)

    def spec(self) -> str:
        return f"temperature={self.temperature!r}"


class _Truncation(Adaptor):
    """γ̃(p)(v) = p(v) · 1[v kept]: the subclass says which tokens are kept."""

    def _transform(self, logw: np.ndarray) -> np.ndarray:
        logp = _lognorm(logw)  # decisions are made on the normalized distribution
        return np.where(self._remove(logp), -np.inf, logw)

    @abstractmethod
    def _remove(self, logp: np.ndarray) -> np.ndarray:
        """Boolean mask of removed tokens given the normalized log-probabilities."""

    @property
    def steps(self) -> tuple[Adaptor, ...]:
        return (self,)


def _below_max(logp: np.ndarray) -> np.ndarray:
    """True where a token is strictly less probable than the most probable one (those tied with the
    max are never removed by a threshold rule: transformers' ``scores < topk(scores, 1)``)."""
    return logp < _row_max(logp)


@dataclass(frozen=True)
class TopK(_Truncation):
    """Top-k: keep v iff p(v) >= p_(k), the k-th largest probability (k >= 1 an integer).

    Ties at p_(k) are all kept (so more than k tokens may survive), as transformers'
    ``scores < topk(scores, k)[..., -1]`` does; k larger than the vocabulary keeps everything.
    """

    k: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", checks.integer(self.k, "top_k", lo=1))

    def _remove(self, logp: np.ndarray) -> np.ndarray:
        k = min(self.k, logp.shape[-1])
        kth = -np.partition(-logp, k - 1, axis=-1)[..., k - 1 : k]
        return logp < kth

    def spec(self) -> str:
        return f"top_k={self.k}"


@dataclass(frozen=True)
class TopP(_Truncation):
    """Nucleus (top-p) sampling, p in (0, 1]: keep the smallest set of most probable tokens whose
    mass is >= p. With the tokens sorted by increasing probability and S_j the cumulative mass up to
    and including the j-th, token j is removed iff S_j <= 1 - p (the most probable one is always
    kept). This is transformers' ``TopPLogitsWarper``; among exactly tied tokens the order is a
    stable sort, so at a tie on the boundary the lower token id is removed first.
    """

    p: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", checks.real(self.p, "top_p", lo=0.0, hi=1.0, open_lo=True))

    def _remove(self, logp: np.ndarray) -> np.ndarray:
        order = np.argsort(logp, axis=-1, kind="stable")
        cum = np.cumsum(np.exp(np.take_along_axis(logp, order, axis=-1)), axis=-1)
        remove_sorted = cum <= 1.0 - self.p
        remove_sorted[..., -1] = False
        return _unsort(remove_sorted, order)

    def spec(self) -> str:
        return f"top_p={self.p!r}"


@dataclass(frozen=True)
class MinP(_Truncation):
    """Min-p sampling, min_p in [0, 1]: keep v iff p(v) >= min_p · max_v' p(v')
    (in logs: log p(v) - max log p >= log min_p). min_p = 0 keeps everything."""

    min_p: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_p", checks.real(self.min_p, "min_p", lo=0.0, hi=1.0))

    def _remove(self, logp: np.ndarray) -> np.ndarray:
        if self.min_p == 0.0:
            return np.zeros(logp.shape, dtype=bool)
        return logp - _row_max(logp) < math.log(self.min_p)

    def spec(self) -> str:
        return f"min_p={self.min_p!r}"


@dataclass(frozen=True)
class TypicalP(_Truncation):
    """Locally typical sampling (Meister et al., 2023), mass τ in (0, 1): sort the tokens by
    |-log p(v) - H(p)| (distance of their surprisal from the entropy), and keep the shortest prefix
    of that order whose mass reaches τ — precisely, with S_j the cumulative mass in that order and
    j* = #{j : S_j < τ}, keep every token whose distance is <= that of the j*-th (ties kept), and
    always the most typical one (transformers' ``TypicalLogitsWarper``).
    """

    mass: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "mass", _in_open_unit(self.mass, "typical_p"))

    def _remove(self, logp: np.ndarray) -> np.ndarray:
        h = np.asarray(infotheory.entropy(logp))[..., None]
        shifted = np.abs(-logp - h)  # +inf for zero-probability tokens
        order = np.argsort(shifted, axis=-1, kind="stable")
        s_sorted = np.take_along_axis(shifted, order, axis=-1)
        cum = np.cumsum(np.exp(np.take_along_axis(logp, order, axis=-1)), axis=-1)
        last = np.minimum((cum < self.mass).sum(-1, keepdims=True), logp.shape[-1] - 1)
        remove_sorted = s_sorted > np.take_along_axis(s_sorted, last, axis=-1)
        remove_sorted[..., 0] = False
        return _unsort(remove_sorted, order)

    def spec(self) -> str:
        return f"typical_p={self.mass!r}"


@dataclass(frozen=True)
class Epsilon(_Truncation):
    """ε-sampling (Hewitt et al., 2022), ε in (0, 1): keep v iff p(v) >= ε, and always the most
    probable token(s)."""

    epsilon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", _in_open_unit(self.epsilon, "epsilon_cutoff"))

    def _remove(self, logp: np.ndarray) -> np.ndarray:
        return (logp < math.log(self.epsilon)) & _below_max(logp)

    def spec(self) -> str:
        return f"epsilon_cutoff={self.epsilon!r}"


@dataclass(frozen=True)
class Eta(_Truncation):
    """η-sampling (Hewitt et al., 2022), η in (0, 1): keep v iff p(v) >= min(η, √η · e^{-H(p)}),
    H the entropy in nats, and always the most probable token(s)."""

    eta: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "eta", _in_open_unit(self.eta, "eta_cutoff"))

    def _remove(self, logp: np.ndarray) -> np.ndarray:
        h = np.asarray(infotheory.entropy(logp))[..., None]
        log_threshold = np.minimum(math.log(self.eta), 0.5 * math.log(self.eta) - h)
        return (logp < log_threshold) & _below_max(logp)

    def spec(self) -> str:
        return f"eta_cutoff={self.eta!r}"


@dataclass(frozen=True)
class Composed(Adaptor):
    """γ̃ = γ̃_m ∘ ... ∘ γ̃_1: each step acts on the previous one's unnormalized output (which it
    normalizes before deciding what to keep), as a list of transformers warpers does."""

    parts: tuple[Adaptor, ...]

    def _transform(self, logw: np.ndarray) -> np.ndarray:
        for part in self.parts:
            logw = part._transform(logw)
        return logw

    @property
    def steps(self) -> tuple[Adaptor, ...]:
        return tuple(s for part in self.parts for s in part.steps)


def compose(*adaptors: Adaptor) -> Adaptor:
    """The adaptors applied in the order given (first argument first); no argument gives Identity."""
    for a in adaptors:
        if not isinstance(a, Adaptor):
            raise TypeError(f"compose takes Adaptor objects, got {a!r}; use from_spec for a dict or string")
    steps = tuple(s for a in adaptors for s in a.steps)
    if not steps:
        return Identity()
    return steps[0] if len(steps) == 1 else Composed(steps)


# --------------------------------------------------------------------------- specs

def _parse_value(key: str, raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw.strip())
        except json.JSONDecodeError as err:
            raise ValueError(f"{key} must be a number, got {raw!r}") from err
    if key == "top_k":
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        return checks.integer(raw, "top_k (0 for none)", lo=0)
    return checks.real(raw, key, allow_inf=True)


def _spec_items(spec: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(spec, str):
        items: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            if "=" not in part:
                raise ValueError(f"adaptor spec items look like name=value, got {part!r} in {spec!r}")
            key, value = (s.strip() for s in part.split("=", 1))
            key = ALIASES.get(key, key)
            if key in items:
                raise ValueError(f"{key} is given twice in adaptor spec {spec!r}")
            items[key] = value
        return items
    out: dict[str, Any] = {}
    for key, value in spec.items():
        k = ALIASES.get(key, key)
        if k in out:
            raise ValueError(f"{k} is given twice in adaptor spec {dict(spec)!r}")
        out[k] = value
    return out


def from_spec(spec: Adaptor | Mapping[str, Any] | str | None) -> Adaptor:
    """An adaptor from transformers' generation parameters, composed in transformers' order
    (temperature, top_k, top_p, min_p, typical_p, epsilon_cutoff, eta_cutoff) whatever the order
    of the spec, e.g. ``{"temperature": 0.7, "top_k": 50}`` or ``"top_k=50,temperature=0.7"``.

    As in ``generate``, the values that switch a warper off give no step: temperature = 1,
    top_k = 0, top_p = 1, typical_p = 1, epsilon_cutoff = 0, eta_cutoff = 0 (min_p = 0 keeps
    everything). Any other value outside an adaptor's range raises ValueError naming the parameter.
    Aliases: epsilon, eta, typical, nucleus. ``None``, ``""`` and ``{}`` give :class:`Identity`;
    an :class:`Adaptor` is returned as is.
    """
    if spec is None:
        return Identity()
    if isinstance(spec, Adaptor):
        return spec
    if not isinstance(spec, (str, Mapping)):
        raise TypeError(f"an adaptor spec is an Adaptor, a dict, a string or None, got {spec!r}")
    items = _spec_items(spec)
    unknown = sorted(set(items) - set(SPEC_ORDER))
    if unknown:
        raise ValueError(f"unknown adaptor parameter(s) {unknown}; allowed: {list(SPEC_ORDER)} "
                         f"(aliases {sorted(ALIASES)})")
    values = {k: _parse_value(k, v) for k, v in items.items()}
    # Each key's adaptor and the value at which it is the identity (transformers skips it there; min_p has none).
    kinds: dict[str, tuple[Callable[[Any], Adaptor], Any]] = {
        "temperature": (Temperature, 1.0), "top_k": (TopK, 0), "top_p": (TopP, 1.0), "min_p": (MinP, None),
        "typical_p": (TypicalP, 1.0), "epsilon_cutoff": (Epsilon, 0.0), "eta_cutoff": (Eta, 0.0)}
    return compose(*(kinds[key][0](values[key]) for key in SPEC_ORDER
                     if key in values and values[key] != kinds[key][1]))
