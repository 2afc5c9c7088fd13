"""What an attempt costs, in its provider's unit: the cost ledger's arithmetic.

API Mall charges credits and says so (``credits_used`` at create,
``credits_refunded`` once a task failed), so its figures are taken as reported. The
other gateways report nothing, so an attempt costs the configured price per image of
its model times the images it produced (``GENHOOK_<PROVIDER>_PRICES``); a failed one
costs nothing. Budgets need a figure *before* an attempt is sent: its estimate, the
price times the images asked for, which the ledger counts until the real cost is
known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PriceList:
    """One provider's prices: per image, by model, in ``unit``."""

    unit: str
    per_image: Mapping[str, float]

    def estimate(self, model: str | None, images: int) -> float | None:
        """The expected cost of asking for ``images`` images; None without a price."""
        price = self.per_image.get(model or "")
        return None if price is None else price * images


def attempt_cost(
    prices: PriceList,
    model: str | None,
    *,
    completed: bool,
    images: int,
    credits_used: float | None,
    credits_refunded: float | None,
) -> float | None:
    """The settled cost of an attempt that has ended (None: no way to know it)."""
    if credits_used is not None:
        return credits_used - (credits_refunded or 0.0)
    if not completed:
        return 0.0
    return prices.estimate(model, images)


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """The verdict on sending one more attempt under a daily budget."""

    allowed: bool
    budget: float | None
    spent: float
    estimate: float

    def reason(self, provider: str, unit: str) -> str:
        return (
            f"{provider}'s daily budget of {self.budget:g} {unit} would be exceeded: "
            f"{self.spent:g} spent today, this attempt ~{self.estimate:g}"
        )


def check_budget(budget: float | None, spent: float, estimate: float | None) -> BudgetCheck:
    """Allowed unless today's spend plus this attempt's estimate would pass the budget.

    Without an estimate (no price configured) an attempt is refused only once the
    budget is used up: genhook cannot know it would pass it.
    """
    expected = estimate or 0.0
    if budget is None:
        return BudgetCheck(True, None, spent, expected)
    over = spent + expected > budget if expected else spent >= budget
    return BudgetCheck(not over, budget, spent, expected)


NO_PRICES = PriceList("USD", {})


@dataclass(frozen=True, slots=True)
class Ledger:
    """Every provider's prices and low-balance threshold, as configured."""

    prices: Mapping[str, PriceList]
    credits_low: Mapping[str, float]

    def prices_of(self, provider: str) -> PriceList:
        return self.prices.get(provider, NO_PRICES)


EMPTY_LEDGER = Ledger({}, {})
