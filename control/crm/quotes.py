"""Premiums of auto and home quotes, given during a call.

The formula is the one of the business documents: seed 001 (§3.1, "ait-qb")
prices an auto quote as a base premium of 400 € multiplied by risk factors of
the vehicle (age, make) and of the driver (age, experience, claims), then by
two discounts: 15 % for a customer of more than 5 years (*fidelidad*) and
10 % for a driver without claims (*sin siniestros*), rounded to the cent at
the end. Seed 003 (§3.1) asks the same engine for home insurance: base
premium, risk factors, discounts (and surcharges, which are the factors above
1). The seeds name the factors but not their values: the tables below are the
broker's, kept here, in one place, so that a change of tariff is one reviewed
diff with its tests.

:func:`auto_premium` and :func:`home_premium` are pure (no database, no
clock): the service that stores a quote computes their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from control.errors import InvalidInput

CENT = Decimal("0.01")
# seed 001: BASE_PREMIUM_AUTO = 400 €
BASE_PREMIUM_AUTO = Decimal("400.00")
# home: the broker's base for a standard flat (seed 003 gives the shape only)
BASE_PREMIUM_HOME = Decimal("150.00")
# seed 001: "yearsAsCustomer > 5 → 15 % descuento fidelidad"
LOYALTY_YEARS = 5
LOYALTY_DISCOUNT = Decimal("0.85")
# seed 001: "claims === 0 → 10 % sin siniestros"
NO_CLAIMS_DISCOUNT = Decimal("0.90")

# A band table: (upper bound inclusive, factor); the last bound is None (open).
Bands = Sequence[tuple[int | None, Decimal]]

# Vehicle age in years (quote year − registration year): a new car costs more
# to repair; an old one is worth little.
VEHICLE_AGE: Bands = ((2, Decimal("1.10")), (5, Decimal("1.00")), (10, Decimal("0.90")),
                      (None, Decimal("0.85")))
# Makes with expensive parts and repairs; every make not listed is 1.00.
MAKE: dict[str, Decimal] = {
    "audi": Decimal("1.20"), "bmw": Decimal("1.25"), "jaguar": Decimal("1.30"),
    "land rover": Decimal("1.30"), "lexus": Decimal("1.20"), "maserati": Decimal("1.40"),
    "mercedes-benz": Decimal("1.25"), "mercedes": Decimal("1.25"), "porsche": Decimal("1.40"),
    "tesla": Decimal("1.30"), "volvo": Decimal("1.10"), "dacia": Decimal("0.95"),
}
# Driver's age: young drivers cause most accidents; risk rises again late.
DRIVER_AGE: Bands = ((24, Decimal("1.60")), (29, Decimal("1.25")), (64, Decimal("1.00")),
                     (None, Decimal("1.15")))
# Years holding a driving licence.
EXPERIENCE: Bands = ((1, Decimal("1.40")), (4, Decimal("1.15")), (None, Decimal("1.00")))
# At-fault claims in the last 5 years (auto and home alike).
CLAIMS: Bands = ((0, Decimal("1.00")), (1, Decimal("1.20")), (2, Decimal("1.45")),
                 (None, Decimal("1.80")))

# Home: kind of dwelling (a detached house has more walls, roof and garden).
HOME_KIND: dict[str, Decimal] = {"piso": Decimal("1.00"), "adosado": Decimal("1.15"),
                                 "chalet": Decimal("1.30")}
# Built surface in m².
HOME_SIZE: Bands = ((60, Decimal("0.85")), (100, Decimal("1.00")), (150, Decimal("1.20")),
                    (250, Decimal("1.45")), (None, Decimal("1.80")))
# Age of the building in years: old pipes and roofs leak.
BUILDING_AGE: Bands = ((10, Decimal("0.95")), (30, Decimal("1.00")), (50, Decimal("1.10")),
                       (None, Decimal("1.25")))
# Contents sum insured (contenido), euros.
CONTENTS: Bands = ((20_000, Decimal("1.00")), (50_000, Decimal("1.10")),
                   (None, Decimal("1.25")))


def _band(table: Bands, value: int) -> Decimal:
    for upper, factor in table:
        if upper is None or value <= upper:
            return factor
    raise AssertionError("a band table ends with an open band")  # pragma: no cover


def _whole(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "expected a whole number")
    if not low <= value <= high:
        raise InvalidInput(field, f"between {low} and {high}")
    return value


@dataclass(frozen=True)
class Premium:
    """An annual premium and how it was reached, for the agent to explain it."""

    base: Decimal
    factors: dict[str, Decimal]
    discounts: dict[str, Decimal]
    premium: Decimal

    def breakdown(self) -> dict[str, Any]:
        return {"base": f"{self.base:.2f}",
                "factors": {k: str(v) for k, v in self.factors.items()},
                "discounts": {k: str(v) for k, v in self.discounts.items()},
                "premium": f"{self.premium:.2f}"}


def _price(base: Decimal, factors: dict[str, Decimal], discounts: dict[str, Decimal]) -> Premium:
    amount = base
    for factor in (*factors.values(), *discounts.values()):
        amount *= factor
    # rounded once, at the end (seed 001: Math.round(premium * 100) / 100)
    return Premium(base, factors, discounts, amount.quantize(CENT, rounding=ROUND_HALF_UP))


def _discounts(years_as_customer: int, claims: int) -> dict[str, Decimal]:
    discounts: dict[str, Decimal] = {}
    if years_as_customer > LOYALTY_YEARS:
        discounts["loyalty"] = LOYALTY_DISCOUNT
    if claims == 0:
        discounts["no_claims"] = NO_CLAIMS_DISCOUNT
    return discounts


def auto_premium(*, vehicle_year: int, make: str, driver_age: int, experience_years: int,
                 claims: int, years_as_customer: int, quote_year: int) -> Premium:
    """Annual auto premium: 400 € × vehicle age × make × driver age × experience
    × claims factors, × 0.85 for a customer of more than 5 years, × 0.90 for a
    driver without claims (seed 001)."""
    vehicle_year = _whole("vehicle.year", vehicle_year, 1950, quote_year + 1)
    driver_age = _whole("driver.age", driver_age, 18, 99)
    experience_years = _whole("driver.experience_years", experience_years, 0, 81)
    if experience_years > driver_age - 18:
        raise InvalidInput("driver.experience_years",
                           "longer than the driver has been of age to hold a licence")
    claims = _whole("driver.claims", claims, 0, 20)
    years_as_customer = _whole("years_as_customer", years_as_customer, 0, 100)
    if not make.strip():
        raise InvalidInput("vehicle.make", "required")
    factors = {
        "vehicle_age": _band(VEHICLE_AGE, max(0, quote_year - vehicle_year)),
        "make": MAKE.get(" ".join(make.lower().split()), Decimal("1.00")),
        "driver_age": _band(DRIVER_AGE, driver_age),
        "experience": _band(EXPERIENCE, experience_years),
        "claims": _band(CLAIMS, claims),
    }
    return _price(BASE_PREMIUM_AUTO, factors, _discounts(years_as_customer, claims))


def home_premium(*, kind: str, m2: int, built: int, contents: int, claims: int,
                 years_as_customer: int, quote_year: int) -> Premium:
    """Annual home premium: 150 € × dwelling kind × surface × building age ×
    contents sum insured × claims factors, with the same loyalty (× 0.85) and
    no-claims (× 0.90) discounts as auto (seeds 001 and 003)."""
    if kind not in HOME_KIND:
        raise InvalidInput("property.kind", f"{kind!r} is not one of {', '.join(HOME_KIND)}")
    m2 = _whole("property.m2", m2, 15, 5000)
    built = _whole("property.built", built, 1700, quote_year + 2)
    contents = _whole("property.contents", contents, 0, 10_000_000)
    claims = _whole("claims", claims, 0, 20)
    years_as_customer = _whole("years_as_customer", years_as_customer, 0, 100)
    factors = {
        "kind": HOME_KIND[kind],
        "size": _band(HOME_SIZE, m2),
        "building_age": _band(BUILDING_AGE, max(0, quote_year - built)),
        "contents": _band(CONTENTS, contents),
        "claims": _band(CLAIMS, claims),
    }
    return _price(BASE_PREMIUM_HOME, factors, _discounts(years_as_customer, claims))
