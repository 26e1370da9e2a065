"""How much each voucher method may pay for one checkout or order (issue 14).

A meal voucher pays eligible products only, never shipping, and the merchant is liable for that.
Which lines are eligible is the configuration's mapping (product types and/or categories, minus
excluded categories); with no mapping at all there is no restriction (the whole amount, as before
the rule existed: the dashboard page warns the merchant). A holiday voucher
(Chèque-Vacances Connect) has no product restriction.

The rule set (``saleor_up2pay.voucher_rules``) adds what the app only tells the shopper (the daily
cap, Sundays and holidays) and the configuration may set a minimum per payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from saleor_up2pay.configuration import Up2payConfiguration, method_info
from saleor_up2pay.configuration.models import MethodCode
from saleor_up2pay.saleor.payloads import SessionLine, SessionSource
from saleor_up2pay.transactions.results import ErrorEntry
from saleor_up2pay.voucher_rules import Language, Text, language_of, rule_set

CENT = Decimal("0.01")

NO_ELIGIBLE_PRODUCTS = "NO_ELIGIBLE_PRODUCTS"
PARTLY_ELIGIBLE = "PARTLY_ELIGIBLE"
AMOUNT_ABOVE_ELIGIBLE = "AMOUNT_ABOVE_ELIGIBLE"
AMOUNT_BELOW_MINIMUM = "AMOUNT_BELOW_MINIMUM"


def money(amount: Decimal) -> str:
    """A decimal string with two places (``"30.00"``), as the storefront receives amounts."""
    return str(amount.quantize(CENT, rounding=ROUND_DOWN))


def _euros(amount: Decimal, language: Language) -> str:
    text = money(amount)
    return f"€{text}" if language == "en" else f"{text.replace('.', ',')} €"


@dataclass(frozen=True)
class Eligibility:
    """What one method may pay for one checkout or order, and what the shopper should know."""

    method: MethodCode
    asked: Decimal
    """The amount the storefront wants paid (the checkout total, or what remains)."""
    eligible: Decimal
    reason: ErrorEntry | None
    """Why ``eligible`` is lower than ``asked`` (or zero); None when it is not."""
    minimum: Decimal | None
    daily_cap: Decimal | None
    notes: tuple[str, ...]
    language: Language
    restricted: bool = False
    """Whether ``eligible`` comes from the merchant's mapping (else it is the whole amount)."""

    def to_json(self) -> dict[str, Any]:
        """The keys added to the method's entry of ``PAYMENT_GATEWAY_INITIALIZE_SESSION``."""
        return {
            "eligibleAmount": money(self.eligible),
            "reason": self.reason.to_json() if self.reason else None,
            "limits": {
                "dailyCap": money(self.daily_cap) if self.daily_cap is not None else None,
                "minimum": money(self.minimum) if self.minimum is not None else None,
                "notes": list(self.notes),
            },
        }

    def refusal(self, amount: Decimal) -> ErrorEntry | None:
        """Why a transaction of ``amount`` cannot be started with this method (None: it can)."""
        if self.restricted and amount > self.eligible:
            return ErrorEntry(AMOUNT_ABOVE_ELIGIBLE, self._above(amount))
        if self.minimum is not None and amount < self.minimum:
            return ErrorEntry(AMOUNT_BELOW_MINIMUM, self._below(amount))
        return None

    def _above(self, amount: Decimal) -> str:
        label, lang = method_info(self.method).label, self.language
        reason = f" {self.reason.message}" if self.reason else ""
        text = Text(
            fr=f"{label} peut payer au plus {_euros(self.eligible, 'fr')} de cette commande, "
            f"pas {_euros(amount, 'fr')}.{reason}",
            en=f"{label} may pay at most {_euros(self.eligible, 'en')} of this order, "
            f"not {_euros(amount, 'en')}.{reason}",
        )
        return text.get(lang)

    def _below(self, amount: Decimal) -> str:
        minimum = self.minimum or Decimal(0)
        label = method_info(self.method).label
        text = Text(
            fr=f"{label} : le montant minimum par paiement est {_euros(minimum, 'fr')} "
            f"({_euros(amount, 'fr')} demandé).",
            en=f"{label}: the minimum per payment is {_euros(minimum, 'en')} "
            f"({_euros(amount, 'en')} asked).",
        )
        return text.get(self.language)


def line_is_eligible(line: SessionLine, config: Up2payConfiguration) -> bool:
    """A line a meal voucher may pay under the configuration's mapping."""
    category = line.category
    if category is not None and category in config.meal_excluded_categories:
        return False
    return (
        line.product_type is not None and line.product_type in config.meal_eligible_product_types
    ) or (category is not None and category in config.meal_eligible_categories)


def eligibility(
    source: SessionSource,
    config: Up2payConfiguration,
    method: MethodCode,
    asked: Decimal,
) -> Eligibility:
    """What ``method`` may pay of ``asked`` for ``source`` under ``config``."""
    language = language_of(source.language_code)
    info = method_info(method)
    minimum = config.method_minimums.get(method)
    if info.kind != "meal_voucher":
        return Eligibility(method, asked, asked, None, minimum, None, (), language)
    rules = rule_set(config.meal_rule_set)
    notes = tuple(note.get(language) for note in rules.notes)
    if not config.meal_restricted:
        return Eligibility(method, asked, asked, None, minimum, rules.daily_cap, notes, language)
    food = sum((line.total for line in source.lines if line_is_eligible(line, config)), Decimal(0))
    if rules.shipping_eligible:
        food += source.shipping
    eligible = max(Decimal(0), min(food, asked)).quantize(CENT, rounding=ROUND_DOWN)
    reason = None
    if eligible == 0:
        reason = ErrorEntry(
            NO_ELIGIBLE_PRODUCTS,
            Text(
                fr="Aucun article de cette commande ne peut être payé en titres-restaurant.",
                en="No item of this order can be paid with meal vouchers.",
            ).get(language),
        )
    elif eligible < asked:
        reason = ErrorEntry(
            PARTLY_ELIGIBLE,
            Text(
                fr=f"Les titres-restaurant ne paient que les produits alimentaires éligibles "
                f"({_euros(eligible, 'fr')}), jamais la livraison ni les autres articles : "
                "payez le reste avec un autre moyen.",
                en=f"Meal vouchers pay eligible food products only ({_euros(eligible, 'en')}), "
                "never shipping nor other items: pay the rest with another method.",
            ).get(language),
        )
    return Eligibility(
        method, asked, eligible, reason, minimum, rules.daily_cap, notes, language, restricted=True
    )


__all__ = [
    "AMOUNT_ABOVE_ELIGIBLE",
    "AMOUNT_BELOW_MINIMUM",
    "NO_ELIGIBLE_PRODUCTS",
    "PARTLY_ELIGIBLE",
    "Eligibility",
    "eligibility",
    "line_is_eligible",
    "money",
]
