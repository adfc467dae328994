"""Draw the patients: ages, registration records, traits and deaths.

Order matters and is fixed: birth dates first, then the population columns that need only
those (so traits and mortality can depend on e.g. sex or deprivation), then traits, the
registration record and deaths.
"""

from __future__ import annotations

import numpy as np

from trusted_env.dummy.common import (
    DAYS_PER_YEAR,
    NO_DATE,
    BoolArray,
    DayArray,
    FloatArray,
    curve,
    rng_for,
    to_days,
    uniform_days,
    weighted_choice,
)
from trusted_env.dummy.conditions import scaled, trait
from trusted_env.dummy.context import Population
from trusted_env.dummy.defaults import ENGLAND_AGE_BANDS, ENGLAND_ANNUAL_RISK
from trusted_env.schema.hints import MortalityHint, PopulationHint, RegistrationHint


def start_population(table: str, hint: PopulationHint, size: int, seed: int) -> Population:
    """Patients with ids and birth dates only; the rest is added by `complete_population`."""
    rng = rng_for(seed, table, "__birth__")
    bands = [
        (int(band.split("-")[0]), int(band.split("-")[1]), weight)
        for band, weight in (hint.ages or ENGLAND_AGE_BANDS).items()
    ]
    band = weighted_choice(rng, [weight for _, _, weight in bands], size)
    low = np.array([b[0] for b in bands], dtype=np.float64)[band]
    high = np.array([b[1] + 1 for b in bands], dtype=np.float64)[band]
    age = low + rng.random(size) * (high - low)
    as_of = to_days(hint.as_of)
    birth = (as_of - np.floor(age * DAYS_PER_YEAR)).astype(np.int32)
    ids = np.arange(1, size + 1, dtype=np.int64)
    return Population(
        table=table,
        as_of=as_of,
        ids=ids,
        birth=birth,
        death=np.full(size, NO_DATE, dtype=np.int32),
        record_start=birth.copy(),
        record_end=np.full(size, as_of, dtype=np.int32),
    )


def complete_population(pop: Population, hint: PopulationHint, seed: int) -> None:
    """Add traits, registration records and deaths (in place, in that order)."""
    everyone = np.arange(pop.size, dtype=np.int64)
    age = pop.age_at_as_of(everyone)
    for name, trait_hint in hint.traits.items():
        rng = rng_for(seed, pop.table, "__trait__", name)
        where = f"{pop.table}.generate.population.traits.{name}"
        chance = scaled(
            trait_hint, trait_hint.probability, (pop, everyone, age), where, probability=True
        )
        has = rng.random(pop.size) < chance
        for required in trait_hint.requires:
            has &= trait(pop, required, where)
        pop.traits[name] = has
    pop.record_start = _record_start(pop, hint.registration, seed)
    pop.death = _deaths(pop, hint.mortality, age, seed)
    pop.record_end, registered = _record_end(pop, hint.registration, seed)
    pop.traits["dead"] = pop.death != NO_DATE
    pop.traits["registered"] = registered


def _record_start(pop: Population, hint: RegistrationHint, seed: int) -> DayArray:
    rng = rng_for(seed, pop.table, "__record_start__")
    years = rng.exponential(hint.mean_years, pop.size)
    start = pop.as_of - np.floor(years * DAYS_PER_YEAR)
    result: DayArray = np.maximum(start, pop.birth).astype(np.int32)
    return result


def _deaths(pop: Population, hint: MortalityHint, age: FloatArray, seed: int) -> DayArray:
    """Deaths within the last `years` before `as_of`, never before the record starts."""
    rng = rng_for(seed, pop.table, "__death__")
    everyone = np.arange(pop.size, dtype=np.int64)
    mid_age = np.maximum(age - hint.years / 2, 0.0)
    where = f"{pop.table}.generate.population.mortality"
    risk = scaled(hint, 1.0, (pop, everyone, mid_age), where, probability=False)
    risk *= curve(hint.annual_risk or ENGLAND_ANNUAL_RISK, mid_age)
    chance = 1.0 - np.power(1.0 - np.clip(risk, 0.0, 1.0), hint.years)
    low = np.maximum(pop.record_start, pop.as_of - int(hint.years * DAYS_PER_YEAR)).astype(np.int32)
    high = np.full(pop.size, pop.as_of - 1, dtype=np.int32)
    possible = low <= high
    dies = (rng.random(pop.size) < chance) & possible
    day = uniform_days(rng, np.where(possible, low, high), high)
    return np.where(dies, day, NO_DATE).astype(np.int32)


def _record_end(pop: Population, hint: RegistrationHint, seed: int) -> tuple[DayArray, BoolArray]:
    """The record ends at death, at deregistration (`left_fraction`), or stays open."""
    rng = rng_for(seed, pop.table, "__record_end__")
    alive = pop.death == NO_DATE
    can_leave = alive & (pop.record_start < pop.as_of)
    leaves = can_leave & (rng.random(pop.size) < hint.left_fraction)
    left_day = uniform_days(rng, pop.record_start, np.full(pop.size, pop.as_of - 1, dtype=np.int32))
    end = np.where(alive, pop.as_of, pop.death)
    end = np.where(leaves, left_day, end).astype(np.int32)
    return end, alive & ~leaves
