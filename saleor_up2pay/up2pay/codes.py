"""Up2pay code tables: the hosted page / IPN ``Erreur`` (E) codes and GAE ``CODEREPONSE`` codes.

Each code maps to an outcome and a French and an English message (protocol §3.5 and §4.6).
Unknown codes are kept as they are and treated as failures by the callers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "BANK_CODES",
    "GAE_CODES",
    "GAE_FAILOVER_CODES",
    "IPN_CODES",
    "CodeInfo",
    "GaeCodeInfo",
    "GaeOutcome",
    "Outcome",
    "describe_error_code",
    "describe_gae_code",
]


class Outcome(StrEnum):
    """What a notification (IPN or browser return) says about one payment leg."""

    PAID = "paid"
    """``00000``: the leg is paid (authorized)."""
    REFUSED = "refused"
    """Refused by the issuer or because of the card/voucher (``001xx`` with a bank code, ...)."""
    PENDING = "pending"
    """``99999``: waiting for the payment means' issuer to validate."""
    PLATFORM_ERROR = "platform_error"
    """``00001``/``00003``: Up2pay failed; a new attempt should use the backup host."""
    ERROR = "error"
    """Any other failure (configuration, timeout on the page, unknown code)."""


@dataclass(frozen=True)
class CodeInfo:
    """Meaning of one ``Erreur`` code."""

    outcome: Outcome
    fr: str
    en: str


IPN_CODES: Mapping[str, CodeInfo] = MappingProxyType(
    {
        "00000": CodeInfo(Outcome.PAID, "Opération réussie.", "Payment accepted."),
        "00001": CodeInfo(
            Outcome.PLATFORM_ERROR,
            "La connexion au centre d'autorisation a échoué ou une erreur interne est survenue. "
            "Une nouvelle tentative doit être faite sur le site secondaire.",
            "Connection to the authorization centre failed or an internal error occurred. "
            "A new attempt should be made on the backup site.",
        ),
        "00003": CodeInfo(
            Outcome.PLATFORM_ERROR,
            "Erreur de la plateforme Up2pay. Une nouvelle tentative doit être faite sur le site "
            "secondaire.",
            "Up2pay platform error. A new attempt should be made on the backup site.",
        ),
        "00004": CodeInfo(
            Outcome.REFUSED,
            "Numéro de porteur ou cryptogramme visuel invalide.",
            "Invalid card number or security code.",
        ),
        "00006": CodeInfo(
            Outcome.ERROR,
            "Accès refusé ou site, rang ou identifiant incorrect.",
            "Access refused, or wrong site, rank or identifier.",
        ),
        "00008": CodeInfo(
            Outcome.REFUSED,
            "Date de fin de validité incorrecte.",
            "Invalid expiry date.",
        ),
        "00009": CodeInfo(
            Outcome.ERROR,
            "Erreur de création d'un abonnement.",
            "Subscription creation error.",
        ),
        "00010": CodeInfo(Outcome.ERROR, "Devise inconnue.", "Unknown currency."),
        "00011": CodeInfo(Outcome.ERROR, "Montant incorrect.", "Incorrect amount."),
        "00015": CodeInfo(Outcome.ERROR, "Paiement déjà effectué.", "Payment already made."),
        "00016": CodeInfo(
            Outcome.ERROR,
            "Abonné déjà existant (inscription nouvel abonné).",
            "Subscriber already exists (new subscriber registration).",
        ),
        "00021": CodeInfo(
            Outcome.REFUSED,
            "Carte non autorisée.",
            "Card not allowed.",
        ),
        "00029": CodeInfo(
            Outcome.REFUSED,
            "Carte non conforme.",
            "Card does not match (card fingerprint).",
        ),
        "00030": CodeInfo(
            Outcome.ERROR,
            "Temps d'attente dépassé sur la page de paiement.",
            "The payment page timed out before the shopper finished.",
        ),
        "00031": CodeInfo(Outcome.ERROR, "Réservé.", "Reserved code."),
        "00032": CodeInfo(Outcome.ERROR, "Réservé.", "Reserved code."),
        "00033": CodeInfo(
            Outcome.REFUSED,
            "Code pays de l'adresse IP du navigateur de l'acheteur non autorisé.",
            "The country of the shopper's IP address is not allowed.",
        ),
        "00040": CodeInfo(
            Outcome.REFUSED,
            "Opération sans authentification 3-D Secure, bloquée par le filtre.",
            "Payment without 3-D Secure authentication, blocked by the filter.",
        ),
        "99999": CodeInfo(
            Outcome.PENDING,
            "Opération en attente de validation par l'émetteur du moyen de paiement.",
            "Payment pending validation by the issuer of the payment means.",
        ),
    }
)
"""Every code of protocol §3.5 (``001xx`` is handled by :func:`describe_error_code`)."""


BANK_CODES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "05": ("Ne pas honorer.", "Do not honour."),
        "14": ("Numéro de porteur invalide.", "Invalid card number."),
        "51": ("Provision insuffisante ou crédit dépassé.", "Insufficient funds."),
        "54": ("Date de validité de la carte dépassée.", "Card expired."),
        "56": ("Carte absente du fichier.", "Card not on file."),
        "59": ("Suspicion de fraude.", "Suspected fraud."),
        "75": ("Nombre d'essais code confidentiel dépassé.", "Too many PIN attempts."),
        "91": ("Émetteur de carte inaccessible.", "Card issuer unreachable."),
        "94": ("Demande dupliquée.", "Duplicate request."),
        "96": ("Mauvais fonctionnement du système.", "System malfunction."),
    }
)
"""Bank (authorization centre) codes ``xx`` of ``001xx`` listed in protocol §3.5."""

_BANK_RE = re.compile(r"001([0-9]{2})")


def describe_error_code(code: str) -> tuple[CodeInfo, str | None]:
    """Meaning of an ``Erreur`` code and, for ``001xx`` refusals, the bank code ``xx``.

    Unknown codes (including the undocumented ``00200``/``003xx`` some modules treat as success)
    are failures: never mark a leg paid on a code we do not know.
    """
    info = IPN_CODES.get(code)
    if info is not None:
        return info, None
    bank = _BANK_RE.fullmatch(code)
    if bank is not None:
        xx = bank.group(1)
        fr, en = BANK_CODES.get(xx, ("Refus du centre d'autorisation.", "Refused by the bank."))
        return (
            CodeInfo(
                Outcome.REFUSED,
                f"Paiement refusé par le centre d'autorisation (code {xx}) : {fr}",
                f"Payment refused by the authorization centre (code {xx}): {en}",
            ),
            xx,
        )
    return (
        CodeInfo(
            Outcome.ERROR,
            f"Code retour inconnu {code} : paiement non validé.",
            f"Unknown result code {code}: payment not validated.",
        ),
        None,
    )


class GaeOutcome(StrEnum):
    """What a GAE call did."""

    SUCCESS = "success"
    """``00000``: the operation was executed."""
    REFUSED = "refused"
    """``001xx``: refused by the authorization centre."""
    FAILED = "failed"
    """The platform answered and did not execute the operation (or answered an unknown code)."""
    UNAVAILABLE = "unavailable"
    """No host answered usably in the time budget; nothing is known to have been executed."""
    UNCERTAIN = "uncertain"
    """A money-moving call may or may not have been executed and could not be safely retried:
    reconcile later with an inquiry (00017) before trying again."""


@dataclass(frozen=True)
class GaeCodeInfo:
    """Meaning of one ``CODEREPONSE``."""

    outcome: GaeOutcome
    message: str
    failover: bool = False
    """Whether the platform asks us to retry on the backup host (protocol §4.6)."""


GAE_FAILOVER_CODES = frozenset({"00001", "00003", "00097", "00098"})
"""CODEREPONSE values that call for a retry on the backup host (protocol §4.6, §4.7)."""

_F = GaeOutcome.FAILED

GAE_CODES: Mapping[str, GaeCodeInfo] = MappingProxyType(
    {
        "00000": GaeCodeInfo(GaeOutcome.SUCCESS, "Opération réussie / operation succeeded."),
        "00001": GaeCodeInfo(
            _F,
            "Connexion au centre d'autorisation échouée / authorization centre unreachable.",
            True,
        ),
        "00002": GaeCodeInfo(_F, "Erreur de cohérence / inconsistent request."),
        "00003": GaeCodeInfo(_F, "Erreur Paybox / Up2pay platform error.", True),
        "00004": GaeCodeInfo(_F, "Numéro de porteur invalide / invalid card number."),
        "00005": GaeCodeInfo(_F, "Numéro de question invalide / invalid question number."),
        "00006": GaeCodeInfo(
            _F, "Accès refusé ou site/rang incorrect / access refused or wrong site or rank."
        ),
        "00007": GaeCodeInfo(_F, "Date invalide / invalid date (DATEQ)."),
        "00008": GaeCodeInfo(_F, "Date de fin de validité incorrecte / invalid expiry date."),
        "00009": GaeCodeInfo(_F, "Type d'opération invalide / invalid operation type."),
        "00010": GaeCodeInfo(_F, "Devise inconnue / unknown currency."),
        "00011": GaeCodeInfo(_F, "Montant incorrect / incorrect amount."),
        "00012": GaeCodeInfo(_F, "Référence commande invalide / invalid order reference."),
        "00013": GaeCodeInfo(_F, "Version non soutenue / protocol version no longer supported."),
        "00014": GaeCodeInfo(_F, "Trame reçue incohérente / inconsistent request received."),
        "00015": GaeCodeInfo(
            _F,
            "Erreur d'accès aux données précédemment référencées (transaction non trouvée) / "
            "referenced data not accessible (transaction not found).",
        ),
        "00016": GaeCodeInfo(_F, "Abonné déjà existant / subscriber already exists."),
        "00017": GaeCodeInfo(_F, "Abonné inexistant / subscriber does not exist."),
        "00018": GaeCodeInfo(_F, "Transaction non trouvée / transaction not found."),
        "00020": GaeCodeInfo(_F, "Cryptogramme visuel non présent / security code missing."),
        "00021": GaeCodeInfo(_F, "Carte non autorisée / card not allowed."),
        "00022": GaeCodeInfo(_F, "Plafond atteint / limit reached."),
        "00023": GaeCodeInfo(_F, "Porteur déjà passé aujourd'hui / card already used today."),
        "00024": GaeCodeInfo(_F, "Code pays filtré / country filtered for this merchant."),
        "00026": GaeCodeInfo(_F, "Code activité incorrect / wrong activity code."),
        "00040": GaeCodeInfo(
            _F, "Porteur enrôlé mais non authentifié / cardholder enrolled but not authenticated."
        ),
        "00097": GaeCodeInfo(_F, "Timeout de connexion atteint / connection timeout.", True),
        "00098": GaeCodeInfo(_F, "Erreur de connexion interne / internal connection error.", True),
        "00099": GaeCodeInfo(
            _F, "Incohérence entre la question et la réponse / question and answer mismatch."
        ),
    }
)
"""CODEREPONSE table (protocol §4.6); ``001xx`` is handled by :func:`describe_gae_code`."""


def describe_gae_code(code: str) -> GaeCodeInfo | None:
    """Meaning of a CODEREPONSE, or None when the code is unknown (callers treat it as failed)."""
    info = GAE_CODES.get(code)
    if info is not None:
        return info
    bank = _BANK_RE.fullmatch(code)
    if bank is not None:
        xx = bank.group(1)
        fr, en = BANK_CODES.get(xx, ("Refus du centre d'autorisation.", "Refused by the bank."))
        return GaeCodeInfo(
            GaeOutcome.REFUSED,
            f"Refus du centre d'autorisation (code {xx}) : {fr} / refused by the bank ({xx}): {en}",
        )
    return None
