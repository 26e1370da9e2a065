"""The Up2pay wire rules the sandbox plays, written from the protocol notes (not the app's client).

Kept separate from :mod:`saleor_up2pay.up2pay` on purpose: two independent readings of
``shared/reference/up2pay-protocol.md`` check each other in the end-to-end test.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# Conecs and CV-Connect (manual §3.1.5, §3.2.4); LIMOCB is the card complement (manual §3.3).
VOUCHER_CARD_TYPES = ("APETIZ", "SODEXO", "UPCHEQUDEJ", "CVCONNECT")
CONECS_CARD_TYPES = ("APETIZ", "SODEXO", "UPCHEQUDEJ")
COMPLEMENT_CARD_TYPE = "LIMOCB"
EUR = "978"

# Letters of PBX_RETOUR (protocol §3.1). U is known but refused for LIMONETIK (manual §3.1.7).
RETOUR_LETTERS = frozenset("MRTABCDEFGHIJKNOoPQSUVWYZv")

# PBX_HASH values (protocol §2.2) the sandbox can compute with hashlib.
HASH_ALGORITHMS = {
    "SHA512": hashlib.sha512,
    "SHA384": hashlib.sha384,
    "SHA256": hashlib.sha256,
    "SHA224": hashlib.sha224,
}


def compute_hmac(pairs: list[tuple[str, str]], hex_key: str, algorithm: str = "SHA512") -> str:
    """Upper-case hex HMAC over ``NAME=value`` joined by ``&`` in the given order (§2.5)."""
    message = "&".join(f"{name}={value}" for name, value in pairs).encode("utf-8")
    digest = HASH_ALGORITHMS[algorithm]
    return hmac.new(binascii.unhexlify(hex_key), message, digest).hexdigest().upper()


def hmac_matches(received: str, expected: str) -> bool:
    """Constant-time, case-insensitive comparison (the platform accepts lower-case hex, §2.5)."""
    return hmac.compare_digest(received.upper().encode(), expected.encode())


@dataclass(frozen=True)
class RetourVariable:
    """One ``name:letter`` item of ``PBX_RETOUR``."""

    name: str
    letter: str


_RETOUR_NAME = re.compile(r"[^\s&=;:?#%+]{1,64}")


def parse_retour(spec: str) -> tuple[RetourVariable, ...]:
    """Parse ``PBX_RETOUR``; raises ValueError with the reason the platform would refuse it."""
    items = [item for item in spec.split(";") if item != ""]
    if not items:
        msg = "PBX_RETOUR is empty"
        raise ValueError(msg)
    variables: list[RetourVariable] = []
    for item in items:
        name, sep, letter = item.partition(":")
        if not sep or not _RETOUR_NAME.fullmatch(name) or letter not in RETOUR_LETTERS:
            msg = f"PBX_RETOUR item {item!r} is not name:letter with a known letter"
            raise ValueError(msg)
        variables.append(RetourVariable(name, letter))
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        msg = "PBX_RETOUR uses the same name twice"
        raise ValueError(msg)
    letters = [v.letter for v in variables]
    if "K" in letters and letters[-1] != "K":
        msg = "the signature (K) must be the last variable of PBX_RETOUR"
        raise ValueError(msg)
    if letters.count("K") > 1:
        msg = "PBX_RETOUR asks for the signature (K) twice"
        raise ValueError(msg)
    return tuple(variables)


def encode_value(value: str) -> str:
    """Encode a returned value as Up2pay does: space as ``%20``, ``@ / :`` left as is (§3.3)."""
    return quote(value, safe="@/:")


def sign(private_key: rsa.RSAPrivateKey, data: str) -> str:
    """RSA PKCS#1 v1.5 / SHA-1 over the encoded data, base64, then URL-encoded (§3.3)."""
    signature = private_key.sign(data.encode("utf-8"), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return quote(base64.b64encode(signature).decode("ascii"), safe="")


def signed_query(
    variables: tuple[RetourVariable, ...],
    values: dict[str, str],
    private_key: rsa.RSAPrivateKey,
    *,
    prefix: str = "",
) -> str:
    """The ``PBX_RETOUR`` variables as a query string, ``K`` signing everything before it.

    ``prefix`` is the merchant's own query string: signed for browser returns, not for IPNs
    (§3.3 step 2), so the caller passes it only for browser returns and prepends it otherwise.
    Letters with no value (e.g. ``A`` on a refusal) are left out, as Up2pay does (§3.1).
    """
    parts = [prefix] if prefix else []
    signature_name = None
    for variable in variables:
        if variable.letter == "K":
            signature_name = variable.name
            continue
        if variable.letter in values:
            parts.append(f"{variable.name}={encode_value(values[variable.letter])}")
    data = "&".join(parts)
    if signature_name is None:
        return data
    return f"{data}&{signature_name}={sign(private_key, data)}"


# Error (E) codes of the hosted page and IPN (protocol §3.5) the sandbox produces.
ERROR_MESSAGES = {
    "00000": "Opération réussie.",
    "00001": "Paiement annulé par le client (ou connexion au centre d'autorisation échouée).",
    "00002": "Erreur de paramètres : vérifiez la cohérence des variables envoyées.",
    "00003": "Erreur plateforme : faites une tentative sur le site secondaire.",
    "00006": "Problème d'identification du commerce. Accès refusé !",
    "00009": "Erreur de création d'un abonnement.",
    "00010": "Devise inconnue.",
    "00011": "Montant incorrect.",
    "00012": "Référence commande invalide.",
    "00015": "Paiement déjà effectué.",
    "00021": "Carte non autorisée.",
    "00105": "Ne pas honorer.",
    "00114": "Numéro de porteur invalide.",
    "00151": "Provision insuffisante.",
    "00154": "Carte expirée.",
    "00159": "Suspicion de fraude.",
    "99999": "Opération en attente de validation par l'émetteur du moyen de paiement.",
}

# Bank refusal codes (001xx) offered on the outcome page (protocol §3.5).
REFUSAL_CODES = ("00105", "00114", "00151", "00154", "00159")
