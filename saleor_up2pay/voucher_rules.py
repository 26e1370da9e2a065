"""Meal-voucher rules as data: dated rule sets a merchant picks per configuration.

The rules change by law and by issuer, not by code: each :class:`RuleSet` is one entry of
:data:`RULE_SETS`, and the next one (a confirmed 2027 reform, a new cap) is one more entry. Sources
and dates are in ``docs/meal-vouchers.md``.

What a rule set decides, and what it only tells the shopper:

- **decided by the app**: shipping is never payable by a meal voucher; which lines are payable is
  the merchant's mapping (eligible product types / categories, excluded categories), and a rule
  set may name the categories the merchant must exclude (``excluded_kinds``);
- **informational** (the issuer enforces them, the app never guesses): the daily spending cap,
  the Sunday/holiday restriction;
- **minimum per payment** (some providers): suggested here with ``confirmed=False``; the app
  enforces a minimum only when the configuration sets it.

This module imports nothing of the app: it is data and plain functions over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

Language = Literal["fr", "en"]


@dataclass(frozen=True)
class Text:
    """One message in the shopper's languages."""

    fr: str
    en: str

    def get(self, language: Language) -> str:
        return self.en if language == "en" else self.fr


@dataclass(frozen=True)
class SuggestedMinimum:
    """A minimum amount per payment seen at a provider; enforced only if a configuration sets it."""

    amount: Decimal
    confirmed: bool
    source: str


@dataclass(frozen=True)
class RuleSet:
    """The meal-voucher rules of one period."""

    id: str
    title: str
    valid_from: date | None
    valid_until: date | None
    confirmed: bool
    """False: announced but not confirmed as enacted (the merchant decides to switch)."""
    shipping_eligible: bool
    excluded_kinds: tuple[str, ...]
    """Kinds of products the merchant must map to excluded categories (e.g. alcohol)."""
    daily_cap: Decimal | None
    """Informational: the issuer refuses above it; the app tells the shopper before the redirect."""
    notes: tuple[Text, ...]
    """Informational limits shown to the shopper (cap, Sundays and holidays)."""


DAILY_CAP = Decimal("25.00")
"""Daily spending cap of meal vouchers since 1 October 2022 (decree 2022-1264)."""

_CAP_NOTE = Text(
    fr="Plafond journalier des titres-restaurant : 25,00 € par jour (appliqué par l'émetteur).",
    en="Meal vouchers are capped at €25.00 a day (enforced by the issuer).",
)
_SUNDAY_NOTE = Text(
    fr="Les titres-restaurant ne sont en principe pas utilisables le dimanche et les jours fériés "
    "(selon l'émetteur et le commerçant).",
    en="Meal vouchers are normally not usable on Sundays and public holidays (issuer and "
    "merchant rules apply).",
)

RULE_SETS: tuple[RuleSet, ...] = (
    RuleSet(
        id="fr-2026",
        title="France 2026: all food products, never shipping (until 31 Dec 2026)",
        valid_from=date(2023, 1, 1),
        valid_until=date(2026, 12, 31),
        confirmed=True,
        shipping_eligible=False,
        excluded_kinds=(),
        daily_cap=DAILY_CAP,
        notes=(_CAP_NOTE, _SUNDAY_NOTE),
    ),
    RuleSet(
        id="fr-2027",
        title="France 2027 (announced reform, not confirmed): groceries except alcohol, sweets, "
        "baby food, pet food",
        valid_from=date(2027, 1, 1),
        valid_until=None,
        confirmed=False,
        shipping_eligible=False,
        excluded_kinds=("alcohol", "sweets", "baby_food", "pet_food"),
        daily_cap=DAILY_CAP,
        notes=(_CAP_NOTE, _SUNDAY_NOTE),
    ),
)
"""Every rule set, oldest first. Add the next period as one more entry."""

DEFAULT_RULE_SET = "fr-2026"

SUGGESTED_MINIMUMS: dict[str, SuggestedMinimum] = {
    "meal_voucher": SuggestedMinimum(
        Decimal("1.50"), confirmed=False, source="minimum seen at a Conecs acceptor (PSP docs)"
    ),
    "holiday_voucher": SuggestedMinimum(
        Decimal("20.00"),
        confirmed=False,
        source="Chèque-Vacances Connect minimum at one PSP; not confirmed as an ANCV rule",
    ),
}
"""Minimums per payment by method kind: off unless a configuration sets one (not confirmed)."""

_BY_ID = {rule_set.id: rule_set for rule_set in RULE_SETS}
RULE_SET_IDS: tuple[str, ...] = tuple(_BY_ID)


def rule_set(rule_set_id: str) -> RuleSet:
    """The rule set of that id; raises ``KeyError`` for an unknown one."""
    return _BY_ID[rule_set_id]


def language_of(code: str | None) -> Language:
    """``en`` for a Saleor ``LanguageCodeEnum`` starting with ``EN``, else ``fr``."""
    return "en" if code and code.upper().startswith("EN") else "fr"


__all__ = [
    "DAILY_CAP",
    "DEFAULT_RULE_SET",
    "RULE_SETS",
    "RULE_SET_IDS",
    "SUGGESTED_MINIMUMS",
    "Language",
    "RuleSet",
    "SuggestedMinimum",
    "Text",
    "language_of",
    "rule_set",
]
