"""Exact toy worlds: every string up to a length, and autoregressive models over them.

A :class:`StringSpace` is the finite set

    Y = { y = (y_1, ..., y_n) : 0 <= n <= max_len, y_t in {0, ..., V-1} },   |Y| = sum_{n=0}^{L} V^n,

each string implicitly followed by the end symbol EOS (token id ``V``). Strings are numbered in
shortlex order (by length, then lexicographically), so the strings of length ``n`` form the
contiguous block ``offsets[n] : offsets[n+1]``, and the string ``y`` of length ``n`` with digits
``y_1 ... y_n`` (base V, most significant first) has index

    index(y) = offsets[n] + sum_t y_t V^(n-t).

Every string is also a *prefix* (a node of the generation tree): its parent is the string without
its last token, ``parent(i) = offsets[n-1] + (i - offsets[n]) // V``, and its children are
``offsets[n+1] + (i - offsets[n]) V + v``. This is what lets every quantity below be computed
level by level with numpy, with no Python loop over strings.

A :class:`ToyLM` is an autoregressive model given by its table of next-symbol log-probabilities
``next_logprobs[i, v] = log p(v | prefix i)`` (columns ``0..V-1`` the tokens, column ``V`` EOS), so

    log p(y) = sum_{t=1}^{n} log p(y_t | y_<t) + log p(EOS | y).

Everything here is numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import checks, instances

#: The largest string space built unless ``max_size`` says otherwise (memory stays below ~1 GB).
SIZE_LIMIT = 2_000_000
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def space_size(alphabet_size: int, max_len: int) -> int:
    """|Y| = sum_{n=0}^{L} V^n (Python integers: exact, no overflow)."""
    return sum(alphabet_size ** n for n in range(max_len + 1))


@dataclass(frozen=True, eq=False)
class StringSpace:
    """All strings of length 0..``max_len`` over tokens ``{0..alphabet_size-1}``, each ended by EOS.

    Attributes (numpy arrays indexed by string index ``i``):

    * ``lengths[i]`` — n = |y|;
    * ``tokens[i, t]`` — y_{t+1} for t < n, ``-1`` after the end (shape ``size x max_len``);
    * ``parent[i]`` — index of y_<n (``-1`` for the empty string);
    * ``last_token[i]`` — y_n (``-1`` for the empty string);
    * ``children[i, v]`` — index of y·v (``-1`` when n = max_len);
    * ``prefixes[i, t]`` — index of the prefix (y_1, ..., y_t) for t = 0..n (``-1`` after): the
      context in which the (t+1)-th symbol is generated;
    * ``next_symbol[i, t]`` — the symbol generated after ``prefixes[i, t]``: y_{t+1} for t < n,
      EOS (= V) at t = n, ``-1`` after (shape ``size x (max_len + 1)``).
    """

    alphabet_size: int
    max_len: int
    max_size: int = SIZE_LIMIT
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        v = checks.integer(self.alphabet_size, "alphabet_size", lo=1)
        n = checks.integer(self.max_len, "max_len", lo=0)
        size = space_size(v, n)
        if size > self.max_size:
            raise ValueError(
                f"alphabet_size={v} and max_len={n} give {size:,} strings, more than the cap "
                f"max_size={self.max_size:,}; lower alphabet_size or max_len (or raise max_size)")
        object.__setattr__(self, "alphabet_size", v)
        object.__setattr__(self, "max_len", n)
        offsets = np.cumsum([0] + [v ** k for k in range(n + 1)]).astype(np.int64)
        object.__setattr__(self, "offsets", offsets)

    # ----------------------------------------------------------------- sizes and symbols
    @property
    def size(self) -> int:
        """|Y| = sum_{n=0}^{L} V^n."""
        return int(self.offsets[-1])

    @property
    def eos(self) -> int:
        """The id of the end symbol: V."""
        return self.alphabet_size

    def __len__(self) -> int:
        return self.size

    def level(self, n: int) -> slice:
        """The indices of the strings of length ``n``: ``offsets[n] : offsets[n+1]``."""
        if not 0 <= n <= self.max_len:
            raise ValueError(f"length n={n} outside 0..max_len={self.max_len}")
        return slice(int(self.offsets[n]), int(self.offsets[n + 1]))

    # ----------------------------------------------------------------- tree structure
    @cached_property
    def lengths(self) -> np.ndarray:
        return np.repeat(np.arange(self.max_len + 1), np.diff(self.offsets))

    @cached_property
    def parent(self) -> np.ndarray:
        """parent(i) = offsets[n-1] + (i - offsets[n]) // V; -1 for the empty string."""
        out = np.full(self.size, -1, dtype=np.int64)
        for n in range(1, self.max_len + 1):
            sl = self.level(n)
            out[sl] = self.offsets[n - 1] + np.arange(sl.stop - sl.start) // self.alphabet_size
        return out

    @cached_property
    def last_token(self) -> np.ndarray:
        """y_n = (i - offsets[n]) mod V; -1 for the empty string."""
        out = np.full(self.size, -1, dtype=np.int64)
        for n in range(1, self.max_len + 1):
            sl = self.level(n)
            out[sl] = np.arange(sl.stop - sl.start) % self.alphabet_size
        return out

    @cached_property
    def children(self) -> np.ndarray:
        """children[i, v] = offsets[n+1] + (i - offsets[n]) V + v; -1 at n = max_len."""
        v = self.alphabet_size
        out = np.full((self.size, v), -1, dtype=np.int64)
        for n in range(self.max_len):
            sl = self.level(n)
            local = np.arange(sl.stop - sl.start)
            out[sl] = self.offsets[n + 1] + local[:, None] * v + np.arange(v)[None, :]
        return out

    @cached_property
    def tokens(self) -> np.ndarray:
        """tokens[i, t] = y_{t+1} (digit t of the base-V numeral of i - offsets[n]); -1 after n."""
        out = np.full((self.size, self.max_len), -1, dtype=np.int64)
        for n in range(1, self.max_len + 1):
            sl = self.level(n)
            local = np.arange(sl.stop - sl.start)
            powers = self.alphabet_size ** np.arange(n - 1, -1, -1, dtype=np.int64)
            out[sl, :n] = (local[:, None] // powers[None, :]) % self.alphabet_size
        return out

    @cached_property
    def prefixes(self) -> np.ndarray:
        """prefixes[i, t] = index of (y_1, ..., y_t) for t = 0..n; -1 for t > n."""
        out = np.full((self.size, self.max_len + 1), -1, dtype=np.int64)
        out[:, 0] = 0
        cur = np.zeros(self.size, dtype=np.int64)
        for t in range(self.max_len):
            live = self.lengths > t
            cur = np.where(live, self.children[cur, np.maximum(self.tokens[:, t], 0)], -1)
            out[:, t + 1] = cur
        out[self.lengths[:, None] < np.arange(self.max_len + 1)[None, :]] = -1
        return out

    @cached_property
    def next_symbol(self) -> np.ndarray:
        """next_symbol[i, t] = y_{t+1} for t < n, EOS (= V) at t = n, -1 for t > n."""
        out = np.full((self.size, self.max_len + 1), -1, dtype=np.int64)
        out[:, : self.max_len] = self.tokens
        out[np.arange(self.size), self.lengths] = self.eos
        return out

    # ----------------------------------------------------------------- naming strings
    def index(self, string: str | list[int] | tuple[int, ...]) -> int:
        """The index of a string, given as letters ("ab", "" or "ε" for the empty one) or token ids."""
        if isinstance(string, str):
            string = "" if string == "ε" else string
            try:
                ids = [_LETTERS.index(c) for c in string]
            except ValueError as err:
                raise ValueError(f"{string!r} is not a string of letters a, b, c, ...") from err
        else:
            ids = [int(c) for c in string]
        n = len(ids)
        if n > self.max_len or any(not 0 <= c < self.alphabet_size for c in ids):
            raise ValueError(f"{string!r} is not in this space (alphabet_size={self.alphabet_size}, "
                             f"max_len={self.max_len})")
        local = 0
        for c in ids:
            local = local * self.alphabet_size + c
        return int(self.offsets[n]) + local

    def decode(self, i: int, empty: str = "ε") -> str:
        """String ``i`` as letters a, b, c, ... (token ids joined by '.' beyond 26 tokens)."""
        if not 0 <= i < self.size:
            raise IndexError(f"string index {i} outside 0..{self.size - 1}")
        ids = self.tokens[i, : self.lengths[i]]
        if len(ids) == 0:
            return empty
        if self.alphabet_size <= len(_LETTERS):
            return "".join(_LETTERS[c] for c in ids)
        return ".".join(str(c) for c in ids)

    def labels(self, empty: str = "ε") -> list[str]:
        """``decode(i)`` for every string (for small spaces: tables and plots)."""
        return [self.decode(i, empty) for i in range(self.size)]


def _check_table(space: StringSpace, table: np.ndarray) -> np.ndarray:
    table = np.asarray(table, dtype=np.float64)
    if table.shape != (space.size, space.alphabet_size + 1):
        raise ValueError(f"table must have shape (size, V+1) = {(space.size, space.alphabet_size + 1)}, "
                         f"got {table.shape}")
    if np.isnan(table).any() or np.isposinf(table).any():
        raise ValueError("table holds NaN or +inf log-scores")
    return table


def prefix_logscores(space: StringSpace, table: np.ndarray) -> np.ndarray:
    """Sum of per-step log-scores along every prefix h, without EOS:

        s(h) = sum_{t=1}^{|h|} table[h_<t, h_t].

    With a normalized table this is log P(the output starts with h). Computed level by level:
    s(child) = s(parent) + table[parent, token]. Entries may be -inf (never +inf or NaN).
    """
    table = _check_table(space, table)
    prefix = np.zeros(space.size)
    for n in range(1, space.max_len + 1):
        sl = space.level(n)
        par, tok = space.parent[sl], space.last_token[sl]
        prefix[sl] = prefix[par] + table[par, tok]
    return prefix


def sequence_logscores(space: StringSpace, table: np.ndarray) -> np.ndarray:
    """Sum of per-step log-scores along every string, EOS included:

        s(y) = sum_{t=1}^{n} table[y_<t, y_t] + table[y, EOS]   (:func:`prefix_logscores` + the EOS step).

    With a normalized table this is log p(y) of the autoregressive model; with an unnormalized one
    (e.g. a sampling adaptor applied to each next-token distribution) it is the log of the globally
    normalized model's unnormalized weight.
    """
    table = _check_table(space, table)
    return prefix_logscores(space, table) + table[:, space.eos]


def prefix_log_marginals(space: StringSpace, logp: np.ndarray) -> np.ndarray:
    """log M(h) = log Σ_{y : y starts with h} p(y) for every prefix h, for any distribution over the
    strings of ``space``. Computed bottom-up along the generation tree: M(h) = p(h) + Σ_v M(h·v).
    """
    logp = np.asarray(logp, float)
    if logp.shape != (space.size,):
        raise ValueError(f"logp must have one entry per string ({space.size}), got shape {logp.shape}")
    out = logp.copy()
    for n in range(space.max_len, 0, -1):
        sl = space.level(n)
        np.logaddexp.at(out, space.parent[sl], out[sl])
    return out


def next_token_table(space: StringSpace, logp: np.ndarray) -> np.ndarray:
    """The next-symbol table of any distribution over the strings of ``space`` (column V = EOS):

        log p(v | h) = log M(h·v) − log M(h),   log p(EOS | h) = log p(h) − log M(h),

    with M the prefix marginals (:func:`prefix_log_marginals`). Every distribution over a finite
    string space factorises this way, ∏_t p(y_t | y_<t) · p(EOS | y) = p(y). Unreachable prefixes
    (M(h) = 0) get p(EOS | h) = 1, so the table is a valid :class:`ToyLM` table.
    """
    logp = np.asarray(logp, float)
    marg = prefix_log_marginals(space, logp)
    v = space.alphabet_size
    table = np.full((space.size, v + 1), -np.inf)
    inner = space.children[:, 0] >= 0
    table[inner, :v] = marg[space.children[inner]]
    table[:, v] = logp
    live = marg > -np.inf
    table[live] -= marg[live][:, None]
    table[~live] = -np.inf
    table[~live, v] = 0.0
    return table


@dataclass(frozen=True, eq=False)
class ToyLM:
    """An autoregressive model on a :class:`StringSpace`, given by its next-symbol log-probabilities.

    ``next_logprobs[i, v] = log p(v | prefix i)`` for v in 0..V-1 (tokens) and v = V (EOS); each row
    is normalized, sum_v p(v | i) = 1, and at length ``max_len`` p(EOS | i) = 1.
    """

    space: StringSpace
    next_logprobs: np.ndarray

    def __post_init__(self) -> None:
        table = np.asarray(self.next_logprobs, dtype=np.float64)
        s = self.space
        if table.shape != (s.size, s.alphabet_size + 1):
            raise ValueError(f"next_logprobs must have shape (size, V+1) = {(s.size, s.alphabet_size + 1)}, "
                             f"got {table.shape}")
        if np.isnan(table).any() or np.isposinf(table).any():
            raise ValueError("next_logprobs holds NaN or +inf")
        mass = np.exp(logsumexp(table, axis=1))
        if not np.allclose(mass, 1.0, rtol=0, atol=1e-9):
            bad = int(np.argmax(np.abs(mass - 1)))
            raise ValueError(f"next_logprobs row {bad} ({s.decode(bad)!r}) sums to {mass[bad]!r}, not 1")
        full = s.level(s.max_len)
        if np.any(table[full, : s.alphabet_size] > -np.inf):
            raise ValueError("strings of length max_len must end: p(EOS | y) = 1 there")
        table.setflags(write=False)
        object.__setattr__(self, "next_logprobs", table)

    @cached_property
    def logp(self) -> np.ndarray:
        """log p(y) = sum_t log p(y_t | y_<t) + log p(EOS | y), for every string (sums to 1)."""
        out = sequence_logscores(self.space, self.next_logprobs)
        out.setflags(write=False)
        return out

    @cached_property
    def token_logprobs(self) -> np.ndarray:
        """token_logprobs[i, t] = log p(next_symbol[i, t] | prefixes[i, t]) for t = 0..n (EOS at t = n),
        0 after, so that ``token_logprobs.sum(1) == logp``. Shape ``size x (max_len + 1)``."""
        s = self.space
        live = s.prefixes >= 0
        out = np.zeros(s.prefixes.shape)
        out[live] = self.next_logprobs[s.prefixes[live], s.next_symbol[live]]
        return out

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n i.i.d. string indices drawn from p (exact, by inverse CDF over the whole space)."""
        p = np.exp(self.logp)
        return rng.choice(self.space.size, size=n, p=p / p.sum())


def autoregressive(space: StringSpace, logp: np.ndarray) -> ToyLM:
    """The :class:`ToyLM` whose sequence distribution is ``logp`` (via :func:`next_token_table`)."""
    return ToyLM(space, next_token_table(space, logp))


def random_lm(space: StringSpace, rng: np.random.Generator, concentration: float = 1.0,
              hole_prob: float = 0.0) -> ToyLM:
    """A random autoregressive model: at every prefix of length < max_len,

        p(. | prefix) ~ Dirichlet(concentration · 1_{V+1})   over the V tokens and EOS,

    and p(EOS | y) = 1 at length max_len. Small ``concentration`` gives peaked rows (and, below
    ~0.01, exact zeros from underflow); ``hole_prob`` (e.g. :data:`lmdist.exact.instances.HOLE_PROB`)
    additionally sets each token (never EOS) to probability 0 independently with that probability,
    then renormalizes — a model with holes in its support.
    """
    concentration = checks.real(concentration, "concentration", lo=0.0, open_lo=True)
    hole_prob = checks.real(hole_prob, "hole_prob", lo=0.0, hi=1.0)
    v = space.alphabet_size
    table = np.full((space.size, v + 1), -np.inf)
    table[:, v] = 0.0
    inner = int(space.offsets[space.max_len])  # strings of length < max_len
    if inner:
        rows = rng.dirichlet(np.full(v + 1, float(concentration)), size=inner)
        if hole_prob > 0:
            rows[:, :v] *= rng.random((inner, v)) >= hole_prob
        dead = rows.sum(1) <= 0
        rows[dead, v] = 1.0
        with np.errstate(divide="ignore"):
            logrows = np.log(rows)
        table[:inner] = logrows - logsumexp(logrows, axis=1, keepdims=True)
    return ToyLM(space, table)


def random_reward(space: StringSpace, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """A finite reward for every string: r(y) ~ Normal(0, scale^2), independently
    (:func:`lmdist.exact.instances.random_reward` over the strings of ``space``)."""
    return instances.random_reward(rng, space.size, scale=scale)


def linear_reward(space: StringSpace, weights: np.ndarray, eos_weight: float = 0.0) -> np.ndarray:
    """An additive reward r(y) = sum_t w[y_t] + eos_weight (a sum of per-token rewards)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (space.alphabet_size,) or not np.isfinite(weights).all():
        raise ValueError(f"weights must be {space.alphabet_size} finite numbers, got {weights!r}")
    out = np.zeros(space.size)
    for n in range(1, space.max_len + 1):
        sl = space.level(n)
        out[sl] = out[space.parent[sl]] + weights[space.last_token[sl]]
    return out + float(eos_weight)
