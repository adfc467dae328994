"""Conditions (`who`, `when`) and multipliers (`by_age`, `by`, `by_trait`) over patients."""

from __future__ import annotations

import numpy as np

from trusted_env.dummy.common import BoolArray, FloatArray, IntArray, apply_odds, curve, hint_error
from trusted_env.dummy.context import Category, Population
from trusted_env.schema.hints import Condition, _Scaled


def trait(pop: Population, name: str, where: str) -> BoolArray:
    found = pop.traits.get(name)
    if found is None:
        known = ", ".join(sorted(pop.traits)) or "none yet"
        raise hint_error(
            where,
            f"unknown trait '{name}'",
            f"Use a trait declared (earlier) under the population's traits ({known}).",
        )
    return found


def category(pop: Population, column: str, where: str) -> Category:
    found = pop.categories.get(column)
    if found is None:
        raise hint_error(
            where,
            f"'{column}' is not a categorical column of the population table '{pop.table}'",
            "Refer to a string column with a domain or a categorical hint, declared earlier.",
        )
    return found


def matches(
    cond: Condition, pop: Population, pidx: IntArray, age: FloatArray, where: str
) -> BoolArray:
    """Rows (patients `pidx`, with ages `age`) for which every part of `cond` holds."""
    mask = np.ones(pidx.shape[0], dtype=np.bool_)
    for name in cond.having:
        mask &= trait(pop, name, where)[pidx]
    for name in cond.not_having:
        mask &= ~trait(pop, name, where)[pidx]
    for column, allowed in cond.where.items():
        found = category(pop, column, where)
        wanted = [i for i, value in enumerate(found.vocab) if value in allowed]
        mask &= np.isin(found.codes[pidx], np.asarray(wanted, dtype=np.int64))
    if cond.min_age is not None:
        mask &= age >= cond.min_age
    if cond.max_age is not None:
        mask &= age < cond.max_age
    return mask


def column_factor(
    pop: Population, factors: dict[str, dict[str, float]], pidx: IntArray, where: str
) -> FloatArray:
    """Product of the `by` factors of each patient's population-column values."""
    result = np.ones(pidx.shape[0], dtype=np.float64)
    for column, table in factors.items():
        found = category(pop, column, where)
        lookup = np.array([table.get(value, 1.0) for value in found.vocab] + [1.0])
        result *= lookup[found.codes[pidx]]  # code -1 (null) picks the trailing 1.0
    return result


def scaled(
    hint: _Scaled,
    base: float | FloatArray,
    ctx: tuple[Population, IntArray, FloatArray],
    where: str,
    *,
    probability: bool,
) -> FloatArray:
    """`base x by_age x by`, then trait factors: odds ratios for probabilities, else ratios."""
    pop, pidx, age = ctx
    value = np.broadcast_to(np.asarray(base, dtype=np.float64), pidx.shape).copy()
    if hint.by_age is not None:
        value *= curve(hint.by_age, age)
    value *= column_factor(pop, hint.by, pidx, where)
    if not hint.by_trait:
        return np.clip(value, 0.0, 1.0) if probability else value
    ratio = np.ones_like(value)
    for name, factor in hint.by_trait.items():
        ratio[trait(pop, name, where)[pidx]] *= factor
    return apply_odds(value, ratio) if probability else value * ratio
