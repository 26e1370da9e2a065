"""``PPPS.php``: the GAE (server-to-server) emulator, with Up2pay's checks and business rules.

Request: ``application/x-www-form-urlencoded`` POST, HMAC over every field in the order sent
(HMAC excluded), same key and algorithm as the hosted page (protocol §4.1, §2.5). Answer:
``KEY=value&...``, ISO-8859-1, not URL-encoded, SITE/RANG/NUMQUESTION echoed (protocol §4.5).
Codes from protocol §4.6. Rules per leg from protocol §4.8 and the manual §2.1.2.2, §4.2-§4.3
(the manual contradicts itself on Conecs refunds; like the app, the sandbox follows §4.3:
Conecs legs are refundable, CV-Connect legs are not).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import parse_qsl

import structlog

from saleor_up2pay.sandbox.core import Execution, Sandbox
from saleor_up2pay.sandbox.ledger import Status, Transaction
from saleor_up2pay.sandbox.protocol import (
    COMPLEMENT_CARD_TYPE,
    CONECS_CARD_TYPES,
    EUR,
    HASH_ALGORITHMS,
    VOUCHER_CARD_TYPES,
    compute_hmac,
    hmac_matches,
)

log = structlog.get_logger(__name__)

CAPTURE, CANCEL, REFUND, INQUIRY = "00002", "00005", "00014", "00017"
SUPPORTED_TYPES = {CAPTURE: "capture", CANCEL: "cancel", REFUND: "refund", INQUIRY: "inquiry"}
VERSIONS = frozenset({"00103", "00104"})
ACTIVITIES = frozenset({"020", "021", "022", "023", "024", "027"})
MAX_NUMQUESTION = 2_147_483_647
OK_COMMENT = "Demande traitée avec succès"

# Which leg allows what (protocol §4.8 table; manual §2.2.2.1, §3.3.2, §4.2, §4.3.1).
CAN_CAPTURE = frozenset({*VOUCHER_CARD_TYPES, COMPLEMENT_CARD_TYPE})
CAN_CANCEL = frozenset({COMPLEMENT_CARD_TYPE})
CAN_REFUND = frozenset({*CONECS_CARD_TYPES, COMPLEMENT_CARD_TYPE})


class GaeRefusal(Exception):
    """A request answered with a non-zero CODEREPONSE."""

    def __init__(self, code: str, comment: str) -> None:
        super().__init__(f"{code}: {comment}")
        self.code = code
        self.comment = comment


@dataclass
class _Answer:
    number: int = 0
    call: int = 0
    authorization: str = ""
    code: str = "00000"
    comment: str = OK_COMMENT
    extra: tuple[tuple[str, str], ...] = ()


def render(fields: dict[str, str], answer: _Answer) -> bytes:
    """The response body: ISO-8859-1, ``&``-separated, values as they are (not URL-encoded)."""
    pairs = [
        ("NUMTRANS", f"{answer.number:010d}"),
        ("NUMAPPEL", f"{answer.call:010d}"),
        ("NUMQUESTION", fields.get("NUMQUESTION", "")),
        ("SITE", fields.get("SITE", "")),
        ("RANG", fields.get("RANG", "")),
        ("AUTORISATION", answer.authorization),
        ("CODEREPONSE", answer.code),
        ("COMMENTAIRE", answer.comment),
        ("REFABONNE", ""),
        ("PORTEUR", ""),
        *answer.extra,
    ]
    text = "&".join(f"{name}={value}" for name, value in pairs)
    return text.encode("iso-8859-1", errors="replace")


def _parse(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise GaeRefusal("00014", "PAYBOX : Trame reçue incohérente") from None
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise GaeRefusal("00014", "PAYBOX : Trame reçue incohérente (champ en double)")
    return pairs


def _digits(fields: dict[str, str], name: str, most: int, code: str) -> int:
    value = fields.get(name, "")
    if not re.fullmatch(rf"\d{{1,{most}}}", value):
        raise GaeRefusal(code, f"PAYBOX : {name} absent ou invalide")
    return int(value)


def _check_identity(sandbox: Sandbox, pairs: list[tuple[str, str]], fields: dict[str, str]) -> str:
    """SITE/RANG known, IDENTIFIANT (if sent) right, HMAC right; returns the account key."""
    denied = GaeRefusal("00006", "PAYBOX : Accès refusé ou site/rang incorrect")
    site, rang = fields.get("SITE", ""), fields.get("RANG", "")
    if not (re.fullmatch(r"\d{7}", site) and re.fullmatch(r"\d{2,3}", rang)):
        raise denied
    account = sandbox.accounts.get((site, int(rang)))
    if account is None:
        raise denied
    identifiant = fields.get("IDENTIFIANT")
    if identifiant is not None and (
        not identifiant.isdigit() or int(identifiant) != int(account.identifiant)
    ):
        raise denied
    algorithm = fields.get("HASH", "")
    received = fields.get("HMAC", "")
    if algorithm not in HASH_ALGORITHMS or not received:
        raise denied
    signed = [(name, value) for name, value in pairs if name != "HMAC"]
    if not hmac_matches(received, compute_hmac(signed, account.hmac_key, algorithm)):
        raise denied
    return site


def _check_date(value: str) -> None:
    layouts = {8: "%d%m%Y", 14: "%d%m%Y%H%M%S"}
    layout = layouts.get(len(value))
    try:
        if layout is None or not value.isdigit():
            raise ValueError(value)
        datetime.strptime(value, layout)  # noqa: DTZ007 - a calendar check, no instant needed
    except ValueError:
        raise GaeRefusal("00007", "PAYBOX : Date invalide (DATEQ)") from None


def _find(sandbox: Sandbox, fields: dict[str, str], operation: str) -> Transaction:
    site, rang = fields["SITE"], int(fields["RANG"])
    number = _digits(fields, "NUMTRANS", 10, "00014")
    call = None
    if operation != INQUIRY or "NUMAPPEL" in fields:
        call = _digits(fields, "NUMAPPEL", 10, "00014")
    transaction = sandbox.transactions.get((site, rang, number))
    if transaction is None or (call is not None and call != transaction.call_number):
        raise GaeRefusal("00015", "PAYBOX : Transaction non trouvée")
    return transaction


def _check_acquirer(fields: dict[str, str], transaction: Transaction, operation: str) -> None:
    acquirer = fields.get("ACQUEREUR")
    if acquirer is None and operation == INQUIRY:
        return
    if acquirer != transaction.card_type:
        raise GaeRefusal(
            "00002",
            "PAYBOX : Erreur de cohérence : ACQUEREUR doit correspondre à la transaction "
            f"({transaction.card_type})",
        )


def _amount(fields: dict[str, str]) -> int:
    amount = _digits(fields, "MONTANT", 10, "00011")
    currency = fields.get("DEVISE", "")
    if currency != EUR:
        raise GaeRefusal("00010", "PAYBOX : Devise inconnue (euros uniquement)")
    if amount <= 0:
        raise GaeRefusal("00011", "PAYBOX : Montant incorrect")
    return amount


def _capture(transaction: Transaction, amount: int, today: date) -> _Answer:
    if transaction.card_type not in CAN_CAPTURE:
        raise GaeRefusal("00009", "PAYBOX : Type d'opération invalide pour ce moyen de paiement")
    if transaction.status() is not Status.AUTHORIZED:
        raise GaeRefusal(
            "00002",
            f"PAYBOX : Erreur de cohérence : transaction {transaction.status().value.lower()}, "
            "capture impossible",
        )
    if amount > transaction.amount:
        raise GaeRefusal("00011", "PAYBOX : Montant incorrect (supérieur au montant autorisé)")
    # A partial capture voids the rest (manual §2.1.2.2): only `amount` can ever be refunded.
    transaction.captured_amount = amount
    transaction.captured_day = today
    return _Answer(transaction.number, transaction.call_number, transaction.authorization or "")


def _cancel(transaction: Transaction, today: date) -> _Answer:
    if transaction.card_type not in CAN_CANCEL:
        raise GaeRefusal(
            "00009",
            f"PAYBOX : Type d'opération invalide : un paiement {transaction.card_type} "
            "ne peut pas être annulé",
        )
    if transaction.status() not in {Status.AUTHORIZED, Status.CAPTURED} or transaction.remitted(
        today
    ):
        raise GaeRefusal(
            "00002",
            "PAYBOX : Erreur de cohérence : transaction déjà remise, annulée ou refusée "
            "(remboursez-la)",
        )
    transaction.cancelled = True
    return _Answer(transaction.number, transaction.call_number, transaction.authorization or "")


def _refund(sandbox: Sandbox, transaction: Transaction, amount: int, today: date) -> _Answer:
    if transaction.card_type not in CAN_REFUND:
        raise GaeRefusal(
            "00009",
            f"PAYBOX : Type d'opération invalide : un paiement {transaction.card_type} "
            "ne peut pas être remboursé",
        )
    if transaction.captured_amount is None or transaction.cancelled or not transaction.accepted:
        raise GaeRefusal("00002", "PAYBOX : Erreur de cohérence : transaction non capturée")
    if not transaction.remitted(today):
        raise GaeRefusal(
            "00002",
            "PAYBOX : Erreur de cohérence : remboursement possible à partir du lendemain "
            "du paiement (J+1)",
        )
    if transaction.refunded + amount > transaction.captured_amount:
        raise GaeRefusal("00011", "PAYBOX : Montant incorrect (supérieur au montant remboursable)")
    number = sandbox.numbers.transaction()
    transaction.refunds.append((number, amount, today))
    return _Answer(number, transaction.call_number, transaction.authorization or "")


def _inquiry(transaction: Transaction, today: date) -> _Answer:
    return _Answer(
        transaction.number,
        transaction.call_number,
        transaction.authorization or "",
        extra=(
            ("TYPECARTE", transaction.card_type),
            ("STATUS", transaction.status().value),
            ("REMISE", transaction.remittance(today)),
        ),
    )


async def handle(sandbox: Sandbox, host: str, body: bytes) -> bytes:
    """Answer one PPPS.php request."""
    fields: dict[str, str] = {}
    try:
        pairs = _parse(body)
        fields = dict(pairs)
        site = _check_identity(sandbox, pairs, fields)
        answer = await _execute(sandbox, host, site, fields)
    except GaeRefusal as refusal:
        answer = _Answer(code=refusal.code, comment=refusal.comment)
    log.info(
        "sandbox.gae",
        host=host,
        operation=SUPPORTED_TYPES.get(fields.get("TYPE", ""), fields.get("TYPE")),
        numtrans=fields.get("NUMTRANS"),
        code=answer.code,
    )
    return render(fields, answer)


async def _execute(sandbox: Sandbox, host: str, site: str, fields: dict[str, str]) -> _Answer:
    async with sandbox.lock:
        fault = sandbox.faults.get(host)
        if fault is not None and fault.remaining > 0:
            fault.remaining -= 1
            if fault.remaining == 0:
                del sandbox.faults[host]
            if not fault.executed:
                return _Answer(code=fault.code, comment="PAYBOX : Erreur (panne simulée)")
            with contextlib.suppress(GaeRefusal):  # the shopper-facing result is lost anyway
                _apply(sandbox, site, fields, answer_lost=True)
            return _Answer(code=fault.code, comment="PAYBOX : Erreur (réponse perdue simulée)")
        return _apply(sandbox, site, fields)


def _apply(
    sandbox: Sandbox, site: str, fields: dict[str, str], *, answer_lost: bool = False
) -> _Answer:
    """Checks in Up2pay's order, then the operation (caller holds the lock).

    Every executed capture, cancel and refund goes to :attr:`Sandbox.executions`.
    """
    version = fields.get("VERSION", "")
    if not re.fullmatch(r"\d{5}", version):
        raise GaeRefusal("00014", "PAYBOX : Trame reçue incohérente (VERSION)")
    if version not in VERSIONS:
        raise GaeRefusal("00013", "PAYBOX : Cette version n'est plus soutenue")
    operation = fields.get("TYPE", "")
    if operation not in SUPPORTED_TYPES:
        raise GaeRefusal("00009", "PAYBOX : Type d'opération invalide")
    question = _digits(fields, "NUMQUESTION", 10, "00005")
    if not 1 <= question <= MAX_NUMQUESTION:
        raise GaeRefusal("00005", "PAYBOX : Numéro de question invalide")
    today = sandbox.clock.today()
    day = today.isoformat()
    for old_day in [d for d in sandbox.questions if d != day]:
        del sandbox.questions[old_day]  # uniqueness is per day: yesterday's numbers are free
    used = sandbox.questions.setdefault(day, set())
    seen = (site, int(fields["RANG"]), question)
    if seen in used:
        raise GaeRefusal("00005", "PAYBOX : Numéro de question invalide (déjà utilisé ce jour)")
    used.add(seen)
    _check_date(fields.get("DATEQ", ""))
    activity = fields.get("ACTIVITE")
    if activity is not None and activity not in ACTIVITIES:
        raise GaeRefusal("00026", "PAYBOX : Code activité incorrect")
    reference = fields.get("REFERENCE")
    if operation in {CAPTURE, CANCEL} and not reference:
        raise GaeRefusal("00012", "PAYBOX : Référence commande invalide")
    if reference is not None and len(reference) > 250:
        raise GaeRefusal("00012", "PAYBOX : Référence commande invalide")
    amount = _amount(fields) if operation != INQUIRY else 0

    transaction = _find(sandbox, fields, operation)
    _check_acquirer(fields, transaction, operation)
    transaction.settle(today)
    if operation == INQUIRY:
        return _inquiry(transaction, today)
    if operation == CAPTURE:
        answer = _capture(transaction, amount, today)
    elif operation == CANCEL:
        if amount > transaction.amount:
            raise GaeRefusal("00011", "PAYBOX : Montant incorrect")
        answer = _cancel(transaction, today)
    else:
        answer = _refund(sandbox, transaction, amount, today)
    sandbox.executions.append(
        Execution(
            operation=SUPPORTED_TYPES[operation],
            site=site,
            rang=int(fields["RANG"]),
            transaction_number=transaction.number,
            amount=amount,
            question=question,
            answer_lost=answer_lost,
        )
    )
    return answer
