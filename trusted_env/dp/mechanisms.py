"""OpenDP measurements for the aggregates the engine computes in DuckDB.

Each mechanism is built from the output's declared sensitivity (from public bounds) and its
epsilon. The scale is derived in closed form and then checked against OpenDP's own privacy
map, nudged up by one float step at a time if rounding made it a hair too small: OpenDP decides
what a release costs, never our arithmetic. Tests prove each scale equals the one OpenDP's polars
Context picks for the same query.

Builders are memoised: a measurement is a pure function of its public parameters and draws
fresh noise on every call, so building it once per process (the review's accuracy figures and
the release ask for the same ones; a long-lived runner sees the same budgets again) changes
nothing but the time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trusted_env.dp.opendp_core import opendp
from trusted_env.errors import PrivacyError

MAX_SCALE_NUDGES = 64
INT64_LIMIT = 2**62


def _fit_scale(build: Callable[[float], Any], d_in: Any, epsilon: float, scale: float) -> Any:
    """Smallest scale at or above `scale` whose measurement costs at most `epsilon`."""
    for _ in range(MAX_SCALE_NUDGES):
        measurement = build(scale)
        if measurement.map(d_in) <= epsilon:
            return measurement, scale
        scale = math.nextafter(scale, math.inf)
    raise PrivacyError(f"OpenDP could not fit a noise scale for epsilon {epsilon}.")


@dataclass(frozen=True)
class IntegerLaplace:
    """Discrete Laplace noise on a vector of integers with a known L1 sensitivity."""

    sensitivity: int
    epsilon: float
    scale: float
    _measurement: Any = field(repr=False, compare=False)

    def release(self, exact: Sequence[int]) -> list[int]:
        for value in exact:
            if abs(value) >= INT64_LIMIT:
                raise PrivacyError("An aggregate is too large to release; narrow the bounds.")
        return list(self._measurement([int(value) for value in exact]))

    def accuracy(self, alpha: float) -> float:
        """Half-width of the (1 - alpha) interval of one released value."""
        return float(opendp().accuracy.discrete_laplacian_scale_to_accuracy(self.scale, alpha))


@functools.lru_cache(maxsize=512)
def integer_laplace(sensitivity: int, epsilon: float) -> IntegerLaplace:
    if sensitivity <= 0 or not math.isfinite(epsilon) or epsilon <= 0:
        raise PrivacyError("A mechanism needs a positive sensitivity and epsilon.")
    dp = opendp()
    domain = dp.domains.vector_domain(dp.domains.atom_domain(T="i64"))
    metric = dp.metrics.l1_distance(T="i64")

    def build(scale: float) -> Any:
        return dp.measurements.make_laplace(domain, metric, scale)

    measurement, scale = _fit_scale(build, sensitivity, epsilon, sensitivity / epsilon)
    return IntegerLaplace(sensitivity, epsilon, scale, measurement)


@dataclass(frozen=True)
class QuantileSelector:
    """OpenDP's exponential-mechanism quantile over integer candidates.

    The score vector is computed from counts (see `scores`), matching OpenDP's
    `make_quantile_score_candidates` exactly (a test compares them on random data); OpenDP's
    noisy max picks the candidate, and the privacy map is that of the full OpenDP chain.
    """

    candidates: tuple[int, ...]
    alpha: float
    epsilon: float
    scale: float
    alpha_num: int
    alpha_den: int
    size_limit: int
    _select: Any = field(repr=False, compare=False)

    def scores(self, below: Sequence[int], above: Sequence[int]) -> list[int]:
        """|(1 - a) #(x < c) - a #(x > c)| scaled to integers, as OpenDP scores candidates."""
        return [
            abs(
                (self.alpha_den - self.alpha_num) * min(lt, self.size_limit)
                - self.alpha_num * min(gt, self.size_limit)
            )
            for lt, gt in zip(below, above, strict=True)
        ]

    def release(self, below: Sequence[int], above: Sequence[int]) -> int:
        index = self._select(self.scores(below, above))
        return self.candidates[int(index)]


def quantile_selector(
    candidates: Sequence[int], alpha: float, epsilon: float, contributions: int = 1
) -> QuantileSelector:
    """`contributions`: how many values one patient can add (the symmetric distance d_in)."""
    return _quantile_selector(tuple(candidates), alpha, epsilon, contributions)


@functools.lru_cache(maxsize=128)
def _quantile_selector(
    candidates: tuple[int, ...], alpha: float, epsilon: float, contributions: int
) -> QuantileSelector:
    dp = opendp()
    score = dp.transformations.make_quantile_score_candidates(
        dp.domains.vector_domain(dp.domains.atom_domain(T="i64")),
        dp.metrics.symmetric_distance(),
        list(candidates),
        alpha,
    )
    # Probe OpenDP's integer form of alpha: one record below every candidate scores
    # (den - num), one above scores num.
    den_minus_num = int(score([candidates[0] - 1])[0])
    num = int(score([candidates[-1] + 1])[0])
    den = num + den_minus_num
    sensitivity = score.map(contributions)

    def build(scale: float) -> Any:
        return score >> dp.measurements.make_noisy_max(
            score.output_domain, score.output_metric, dp.measures.max_divergence(), scale,
            negate=True,
        )

    chain, scale = _fit_scale(build, contributions, epsilon, 2 * sensitivity / epsilon)
    noisy_min = dp.measurements.make_noisy_max(
        score.output_domain, score.output_metric, dp.measures.max_divergence(), scale, negate=True
    )
    del chain
    return QuantileSelector(
        tuple(candidates), alpha, epsilon, scale, num, den, (2**64 - 1) // den, noisy_min
    )


@dataclass(frozen=True)
class ThresholdedCounts:
    """Counts over keys that only the data could reveal, released by OpenDP's noisy threshold."""

    epsilon: float
    delta: float
    scale: float
    threshold: int
    _measurement: Any = field(repr=False, compare=False)

    def release(self, exact: dict[str, int]) -> dict[str, int]:
        return dict(self._measurement({str(key): int(value) for key, value in exact.items()}))

    def accuracy(self, alpha: float) -> float:
        return float(opendp().accuracy.discrete_laplacian_scale_to_accuracy(self.scale, alpha))


@functools.lru_cache(maxsize=128)
def thresholded_counts(epsilon: float, delta: float, contributions: int = 1) -> ThresholdedCounts:
    """Scale fitted to epsilon, then the smallest threshold that keeps delta.

    A patient with up to `contributions` rows touches at most that many keys, changing each
    count and all counts together by at most that much.
    """
    if delta <= 0:
        raise PrivacyError("Keys from the data need a delta greater than zero.")
    dp = opendp()
    domain = dp.domains.map_domain(dp.domains.atom_domain(T=str), dp.domains.atom_domain(T="i64"))
    metric = dp.metrics.l01inf_distance(dp.metrics.absolute_distance(T="i64"))
    one_patient = (contributions, contributions, contributions)  # (l0, l1, l-inf)

    def build(scale: float, threshold: int) -> Any:
        return dp.measurements.make_laplace_threshold(domain, metric, scale, threshold)

    def cost(scale: float, threshold: int) -> tuple[float, float]:
        spent_eps, spent_delta = build(scale, threshold).map(one_patient)
        return float(spent_eps), float(spent_delta)

    _, scale = _fit_scale(lambda s: _EpsilonOnly(build(s, 2**40), one_patient), None, epsilon,
                          contributions / epsilon)
    low, high = 0, 1
    while cost(scale, high)[1] > delta:
        low, high = high, high * 2
        if high > 2**40:
            raise PrivacyError(f"OpenDP could not fit a threshold for delta {delta}.")
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if cost(scale, middle)[1] > delta else (low, middle)
    if cost(scale, high)[0] > epsilon:
        raise PrivacyError(f"OpenDP could not fit a noise scale for epsilon {epsilon}.")
    return ThresholdedCounts(epsilon, delta, scale, high, build(scale, high))


@dataclass(frozen=True)
class _EpsilonOnly:
    """Adapts an (epsilon, delta) measurement so `_fit_scale` can fit its epsilon alone."""

    measurement: Any
    d_in: Any

    def map(self, _: Any) -> float:
        return float(self.measurement.map(self.d_in)[0])
