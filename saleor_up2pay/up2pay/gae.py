"""GAE ("Gestion Automatisée des Encaissements", ``PPPS.php``): capture, cancel, refund, inquiry.

Protocol §4. A request is a form-encoded POST of ``VERSION, TYPE, SITE, RANG, NUMQUESTION,
MONTANT, DEVISE, REFERENCE, NUMAPPEL, NUMTRANS, ACTIVITE, DATEQ, ACQUEREUR, HASH, HMAC`` (the
manual §4.3.2 order), signed like the hosted page. The answer is ``KEY=value&...`` in ISO-8859-1,
**not** URL-encoded.

Failover (protocol §4.7): on ``00001``/``00003``/``00097``/``00098``, a network error, a non-200
answer or an unreadable one, the call is retried on the backup host — but a state-changing call
(capture, cancel, refund) first asks the backup with an inquiry (``00017``) whether the first
attempt went through, so money never moves twice. When that cannot be established the result is
``UNCERTAIN`` and nothing is retried. Every call has a total time budget (default 12 s, well under
Saleor's 18 s sync-webhook limit).

A ``NUMQUESTION`` that cannot be drawn (Redis down) ends the call with a result, never an
exception: ``UNAVAILABLE`` when the operation itself has not been sent, ``UNCERTAIN`` when a
money-moving request already left and its fate is unknown (the same rule as a lost answer).
"""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import structlog
from redis.exceptions import RedisError

from saleor_up2pay.redis_store import KEY_PREFIX, Redis
from saleor_up2pay.up2pay.codes import (
    GAE_FAILOVER_CODES,
    GaeOutcome,
    describe_gae_code,
)
from saleor_up2pay.up2pay.errors import (
    InvalidPaymentRequest,
    MalformedMessage,
    QuestionNumbersUnavailable,
)
from saleor_up2pay.up2pay.hosted_page import compute_hmac
from saleor_up2pay.up2pay.models import EUR_NUMERIC, Credentials, Leg, Numappel, Numtrans

__all__ = [
    "PARIS",
    "CallObserver",
    "CredentialsCheck",
    "CredentialsVerdict",
    "GaeClient",
    "GaeOutcome",
    "GaeResult",
    "NumQuestions",
    "Operation",
    "RedisNumQuestions",
    "build_gae_request",
    "observe_calls",
    "parse_gae_response",
    "went_through",
]

log = structlog.get_logger(__name__)

PARIS = ZoneInfo("Europe/Paris")
GAE_VERSION = "00103"  # Paybox Direct, as in the manual's example (manual §4.3.2)
ACTIVITE_INTERNET = "024"
MAX_NUMQUESTION = 2_147_483_647  # platform maximum (protocol §4.4)


class Operation(StrEnum):
    """GAE operation ``TYPE`` codes we use (protocol §4.3)."""

    CAPTURE = "00002"
    CANCEL = "00005"
    REFUND = "00014"
    INQUIRY = "00017"

    @property
    def moves_money(self) -> bool:
        """Whether a second execution would be harmful (so failover inquires first)."""
        return self is not Operation.INQUIRY


_SAFE_TEXT = re.compile(r"[\x20-\x7e]{1,250}")
_NUMBER = re.compile(r"[0-9]{1,10}")


def _check_number(name: str, value: str) -> str:
    if not _NUMBER.fullmatch(value):
        msg = f"{name} must be 1 to 10 digits"
        raise InvalidPaymentRequest(msg)
    return value


def build_gae_request(
    *,
    credentials: Credentials,
    operation: Operation,
    question_number: int,
    now: datetime,
    leg: Leg | None,
    numappel: Numappel,
    numtrans: Numtrans,
    amount: int | None = None,
    reference: str | None = None,
) -> list[tuple[str, str]]:
    """The ordered, signed fields of one GAE request (``HMAC`` last).

    ``ACQUEREUR`` comes from ``leg`` only (manual §4.2); amounts are cents. Raises
    :class:`InvalidPaymentRequest` for values the platform would refuse.
    """
    if not 0 < question_number <= MAX_NUMQUESTION:
        msg = f"NUMQUESTION must be between 1 and {MAX_NUMQUESTION}"
        raise InvalidPaymentRequest(msg)
    if now.tzinfo is None:
        msg = "DATEQ needs a timezone-aware datetime"
        raise InvalidPaymentRequest(msg)
    fields: list[tuple[str, str]] = [
        ("VERSION", GAE_VERSION),
        ("TYPE", operation.value),
        ("SITE", credentials.site),
        ("RANG", credentials.rang),
        ("NUMQUESTION", f"{question_number:010d}"),
    ]
    if operation is not Operation.INQUIRY:
        if amount is None or isinstance(amount, bool) or amount <= 0:
            msg = "MONTANT must be a positive number of cents"
            raise InvalidPaymentRequest(msg)
        fields += [("MONTANT", str(amount)), ("DEVISE", EUR_NUMERIC)]
    if reference is not None:
        if not _SAFE_TEXT.fullmatch(reference):
            msg = "REFERENCE must be 1 to 250 printable ASCII characters"
            raise InvalidPaymentRequest(msg)
        fields.append(("REFERENCE", reference))
    elif operation is not Operation.INQUIRY:
        msg = "REFERENCE is required for capture, cancel and refund"
        raise InvalidPaymentRequest(msg)
    fields += [
        ("NUMAPPEL", _check_number("NUMAPPEL", numappel)),
        ("NUMTRANS", _check_number("NUMTRANS", numtrans)),
        ("ACTIVITE", ACTIVITE_INTERNET),
        ("DATEQ", now.astimezone(PARIS).strftime("%d%m%Y%H%M%S")),
    ]
    if leg is not None and leg.acquirer is not None:
        fields.append(("ACQUEREUR", leg.acquirer))
    fields.append(("HASH", "SHA512"))
    fields.append(("HMAC", compute_hmac(fields, credentials.hmac_key)))
    return fields


def parse_gae_response(body: bytes) -> tuple[tuple[str, str], ...]:
    """Split a GAE answer: ISO-8859-1, ``&``-separated, split at the first ``=``, no URL-decoding.

    Raises :class:`MalformedMessage` when there is no ``CODEREPONSE``.
    """
    text = body.decode("latin-1").strip()
    pairs = []
    for part in text.split("&"):
        name, sep, value = part.partition("=")
        if sep and name:
            pairs.append((name.strip(), value))
    if not any(name == "CODEREPONSE" for name, _ in pairs):
        msg = "the GAE answer has no CODEREPONSE"
        raise MalformedMessage(msg)
    return tuple(pairs)


@dataclass(frozen=True)
class GaeResult:
    """The answer to one GAE call, after any failover."""

    operation: Operation
    outcome: GaeOutcome
    code: str
    """``CODEREPONSE`` as received (unknown codes kept); empty when no host answered."""
    message: str
    """Readable explanation: our table's meaning, plus the platform's ``COMMENTAIRE``."""
    comment: str = ""
    numtrans: Numtrans | None = None
    numappel: Numappel | None = None
    authorization: str | None = None
    question_number: str | None = None
    status: str | None = None
    """``STATUS`` of an inquiry (``Capturé``, ``Remboursé``, ``Annulé``, ``Autorisé``...)."""
    remittance: str | None = None
    """``REMISE`` of an inquiry (non-empty = already remitted)."""
    host: str | None = None
    """The GAE URL that gave this answer."""
    failed_over: bool = False
    """Whether the backup host was used."""
    confirmed_by_inquiry: bool = False
    """The first attempt's answer was lost but an inquiry showed it executed: the numbers are the
    inquiry's (for a refund, the original transaction's, not the refund's own)."""
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the operation is known to have been executed."""
        return self.outcome is GaeOutcome.SUCCESS


def _field(fields: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in fields:
        if key == name:
            return value or None
    return None


def _result(operation: Operation, fields: tuple[tuple[str, str], ...], host: str) -> GaeResult:
    code = (_field(fields, "CODEREPONSE") or "").strip()
    comment = (_field(fields, "COMMENTAIRE") or "").strip()
    info = describe_gae_code(code)
    if info is None:
        log.warning("gae.unknown_code", operation=operation.name, code=code, comment=comment)
        outcome, meaning = GaeOutcome.FAILED, f"Code inconnu / unknown code {code}."
    else:
        outcome, meaning = info.outcome, info.message
    return GaeResult(
        operation=operation,
        outcome=outcome,
        code=code,
        message=f"{meaning} {comment}".strip() if comment else meaning,
        comment=comment,
        numtrans=Numtrans(n) if (n := _field(fields, "NUMTRANS")) else None,
        numappel=Numappel(t) if (t := _field(fields, "NUMAPPEL")) else None,
        authorization=_field(fields, "AUTORISATION"),
        question_number=_field(fields, "NUMQUESTION"),
        status=_field(fields, "STATUS"),
        remittance=_field(fields, "REMISE"),
        host=host,
        fields=fields,
    )


class NumQuestions(Protocol):
    """Source of ``NUMQUESTION`` values unique per SITE/RANG per day."""

    async def next(self, site: str, rang: str, now: datetime) -> int:
        """A question number never handed out before today for this SITE/RANG.

        Raises :class:`QuestionNumbersUnavailable` (only) when no number can be drawn.
        """
        ...


class RedisNumQuestions:
    """``NUMQUESTION`` from a per-day Redis counter, unique across every process using the Redis.

    The counter of a day starts at seconds-since-midnight (Paris) × 10 000, so even if Redis loses
    the key mid-day the new numbers are larger than the ones already used (unless more than 10 000
    calls a second were made), and stays below the platform maximum (864 000 000 + calls).
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @staticmethod
    def key(site: str, rang: str, day: str) -> str:
        """Redis key of one day's counter (``day`` = YYYYMMDD, Paris)."""
        return f"{KEY_PREFIX}gae:numquestion:{site}:{rang}:{day}"

    async def next(self, site: str, rang: str, now: datetime) -> int:
        """Atomically take the next number of the day.

        Raises :class:`QuestionNumbersUnavailable` when Redis fails (never a raw Redis error).
        """
        local = now.astimezone(PARIS)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        seed = int((local - midnight).total_seconds()) * 10_000
        key = self.key(site, rang, local.strftime("%Y%m%d"))
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, seed, nx=True, ex=2 * 24 * 3600)
                pipe.incr(key)
                _, value = await pipe.execute()
        except (RedisError, OSError) as exc:
            # Only the exception's type: its text may name the Redis URL (and its password).
            msg = f"no GAE question number could be drawn (Redis: {type(exc).__name__})"
            raise QuestionNumbersUnavailable(msg) from exc
        return int(value)


class CredentialsVerdict(StrEnum):
    """What a credentials check established."""

    ACCEPTED = "accepted"
    """The platform authenticated SITE/RANG/HMAC and processed the question."""
    REFUSED = "refused"
    """``00006``: access refused — wrong SITE/RANG or HMAC key (or the key is not yet validated)."""
    UNAVAILABLE = "unavailable"
    """No usable answer (network error, timeout, ``00001/00003/00097/00098``)."""
    INCONCLUSIVE = "inconclusive"
    """Another code: shown to the merchant as is."""


@dataclass(frozen=True)
class CredentialsCheck:
    """Result of :meth:`GaeClient.check_credentials`, with a sentence for the merchant."""

    verdict: CredentialsVerdict
    code: str
    message: str

    @property
    def ok(self) -> bool:
        """Whether the credentials were accepted."""
        return self.verdict is CredentialsVerdict.ACCEPTED


@dataclass
class _NoAnswer:
    reason: str
    kind: str = "no_answer"
    """What went wrong, for the call observers: ``timeout``, ``network_error``, ``http_<status>``,
    ``unreadable``, ``wrong_question``."""


CallObserver = Callable[[str, str, str, float], None]
"""Told of every request sent to a GAE host: ``(TYPE, url, code, seconds)``, where ``code`` is the
``CODEREPONSE`` received or what went wrong instead (:attr:`_NoAnswer.kind`). The app counts
them (:mod:`saleor_up2pay.metrics`); this package does not import the app."""

_observers: list[CallObserver] = []


def observe_calls(observer: CallObserver) -> None:
    """Tell ``observer`` of every GAE request from now on (once, however often it is given)."""
    if observer not in _observers:
        _observers.append(observer)


def _normalise(status: str | None) -> str:
    text = unicodedata.normalize("NFKD", status or "")
    return "".join(ch for ch in text if not unicodedata.combining(ch)).strip().lower()


class GaeClient:
    """Up2pay GAE client for one account on one platform (``gae_urls``: main first, then backup).

    ``http`` is the shared ``httpx.AsyncClient`` (tests pass one with a MockTransport);
    ``numquestions`` hands out question numbers (:class:`RedisNumQuestions`).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        credentials: Credentials,
        gae_urls: Sequence[str],
        numquestions: NumQuestions,
        *,
        time_budget: float = 12.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not gae_urls:
            msg = "at least one GAE URL is needed"
            raise ValueError(msg)
        if not 0 < time_budget < 18:
            msg = "the GAE time budget must stay under Saleor's 18 s webhook timeout"
            raise ValueError(msg)
        self._http = http
        self._credentials = credentials
        self._urls = tuple(gae_urls)
        self._numquestions = numquestions
        self._budget = time_budget
        self._clock = clock

    def __repr__(self) -> str:
        return f"GaeClient(site={self._credentials.site!r}, rang={self._credentials.rang!r})"

    async def capture(
        self, *, leg: Leg, amount: int, reference: str, numappel: Numappel, numtrans: Numtrans
    ) -> GaeResult:
        """Capture (TYPE 00002) ``amount`` cents of an authorized leg.

        On a Conecs leg a partial capture cancels the remainder (manual §2.1.2.2).
        """
        self._allowed(leg, Operation.CAPTURE)
        return await self._call(
            _Request(Operation.CAPTURE, leg, amount, reference, numappel, numtrans)
        )

    async def cancel(
        self, *, leg: Leg, amount: int, reference: str, numappel: Numappel, numtrans: Numtrans
    ) -> GaeResult:
        """Cancel (TYPE 00005) a not-yet-remitted leg: only the card complement (manual §4.2)."""
        self._allowed(leg, Operation.CANCEL)
        return await self._call(
            _Request(Operation.CANCEL, leg, amount, reference, numappel, numtrans)
        )

    async def refund(
        self,
        *,
        leg: Leg,
        amount: int,
        reference: str,
        numappel: Numappel,
        numtrans: Numtrans,
        first_refund: bool = False,
    ) -> GaeResult:
        """Refund (TYPE 00014) ``amount`` cents of a captured leg (not CV-Connect; from D+1).

        ``first_refund=True`` says no refund of this transaction succeeded before, so if the
        answer is lost an inquiry showing ``Remboursé`` proves this refund executed; otherwise
        such an inquiry is ambiguous and the result is UNCERTAIN.
        """
        self._allowed(leg, Operation.REFUND)
        return await self._call(
            _Request(
                Operation.REFUND,
                leg,
                amount,
                reference,
                numappel,
                numtrans,
                first_refund=first_refund,
            )
        )

    async def inquire(
        self,
        *,
        leg: Leg | None,
        numappel: Numappel,
        numtrans: Numtrans,
        reference: str | None = None,
    ) -> GaeResult:
        """Inquiry (TYPE 00017): the leg's ``STATUS`` and ``REMISE``."""
        return await self._call(
            _Request(Operation.INQUIRY, leg, None, reference, numappel, numtrans)
        )

    async def check_credentials(self) -> CredentialsCheck:
        """A signed, harmless call proving whether the platform accepts SITE/RANG/HMAC.

        It is an inquiry on a transaction that cannot exist (NUMAPPEL/NUMTRANS ``0000000001``).
        Interpretation of CODEREPONSE: ``00000``, ``00015`` and ``00018`` (transaction not found)
        mean the question was authenticated and processed → ACCEPTED; ``00006`` (access refused,
        wrong site/rank — where a wrong or not-yet-validated HMAC key lands) → REFUSED;
        ``00001/00003/00097/00098`` or no answer → UNAVAILABLE; any other code → INCONCLUSIVE,
        with the platform's comment. IDENTIFIANT is not part of GAE: only the hosted page checks it.
        """
        result = await self.inquire(
            leg=None, numappel=Numappel("0000000001"), numtrans=Numtrans("0000000001")
        )
        if result.code in {"00000", "00015", "00018"}:
            verdict = CredentialsVerdict.ACCEPTED
            message = "Up2pay accepted the site, rank and HMAC key."
        elif result.code == "00006":
            verdict = CredentialsVerdict.REFUSED
            message = (
                "Up2pay refused access: check the site, rank and HMAC key (a new HMAC key only "
                "works once confirmed from the e-mail Up2pay sends)."
            )
        elif result.outcome is GaeOutcome.UNAVAILABLE or result.code in GAE_FAILOVER_CODES:
            verdict = CredentialsVerdict.UNAVAILABLE
            message = f"Up2pay could not be reached or did not answer: {result.message}"
        else:
            verdict = CredentialsVerdict.INCONCLUSIVE
            message = f"Up2pay answered code {result.code}: {result.message}"
        return CredentialsCheck(verdict=verdict, code=result.code, message=message)

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _allowed(leg: Leg, operation: Operation) -> None:
        caps = leg.capabilities
        allowed = {
            Operation.CAPTURE: caps.capture,
            Operation.CANCEL: caps.cancel,
            Operation.REFUND: caps.refund,
        }[operation]
        if not allowed:
            msg = f"{leg.label} transactions cannot be {_PAST[operation]} (manual §4.2, §4.3)"
            raise InvalidPaymentRequest(msg)

    async def _call(self, request: _Request) -> GaeResult:
        operation, leg = request.operation, request.leg
        # Validate everything before spending a question number or a network call.
        self._fields(request, operation, question_number=1, now=self._clock())
        started = time.monotonic()
        state = _CallState(deadline=started + self._budget)
        try:
            async with asyncio.timeout(self._budget):
                result = await self._run(request, state)
        except TimeoutError:
            result = self._no_answer(operation, state, "the time budget ran out")
        except QuestionNumbersUnavailable as exc:
            # A local fault, not the host's: no failover, and nothing more is sent.
            log.error("gae.numquestion_unavailable", operation=operation.name, error=str(exc))
            result = self._no_answer(operation, state, str(exc))
        log.info(
            "gae.call",
            operation=operation.name,
            leg=leg.value if leg else None,
            code=result.code,
            outcome=result.outcome.value,
            failed_over=result.failed_over,
            elapsed_ms=round((time.monotonic() - started) * 1000),
        )
        return result

    async def _run(self, request: _Request, state: _CallState) -> GaeResult:
        operation = request.operation
        main = self._urls[0]
        # The first attempt may use half the budget, leaving room for inquiry + retry.
        first = await self._send(main, request, operation, state, share=0.5)
        if isinstance(first, GaeResult) and first.code not in GAE_FAILOVER_CODES:
            return first
        reason = first.reason if isinstance(first, _NoAnswer) else f"code {first.code}"
        if len(self._urls) < 2:
            if isinstance(first, GaeResult):
                return first
            return self._no_answer(operation, state, reason)
        backup = self._urls[1]
        log.warning("gae.failover", operation=operation.name, reason=reason, backup=backup)

        if operation.moves_money:
            check = await self._send(backup, request, Operation.INQUIRY, state, share=0.5)
            if not isinstance(check, GaeResult) or not check.ok:
                why = check.reason if isinstance(check, _NoAnswer) else check.message
                return self._uncertain(operation, f"{reason}; the inquiry failed too: {why}")
            verdict = self._went_through(operation, check, first_refund=request.first_refund)
            if verdict is True:
                log.warning("gae.failover.already_executed", operation=operation.name)
                return replace(
                    check,
                    operation=operation,
                    message="Exécuté, confirmé par consultation / executed, confirmed by "
                    f"inquiry (status {check.status}).",
                    failed_over=True,
                    confirmed_by_inquiry=True,
                )
            if verdict is None:
                return self._uncertain(
                    operation,
                    f"{reason}; the inquiry (status {check.status!r}) cannot tell whether the "
                    "first attempt executed",
                )
            # The inquiry proved the first attempt did not execute: until the retry leaves,
            # nothing has moved (so a failure before it is UNAVAILABLE, not UNCERTAIN).
            state.sent = False
        second = await self._send(backup, request, operation, state, share=1.0)
        if isinstance(second, GaeResult):
            return replace(second, failed_over=True)
        return replace(self._no_answer(operation, state, second.reason), failed_over=True)

    @staticmethod
    def _went_through(
        operation: Operation, inquiry: GaeResult, *, first_refund: bool
    ) -> bool | None:
        return went_through(operation, inquiry, first_refund=first_refund)

    def _uncertain(self, operation: Operation, reason: str) -> GaeResult:
        log.error("gae.uncertain", operation=operation.name, reason=reason)
        return GaeResult(
            operation=operation,
            outcome=GaeOutcome.UNCERTAIN,
            code="",
            message=(
                f"Résultat incertain, non renouvelé / outcome unknown, not retried: {reason}. "
                "Check the transaction in the Up2pay back office before trying again."
            ),
        )

    def _no_answer(self, operation: Operation, state: _CallState, reason: str) -> GaeResult:
        if operation.moves_money and state.sent:
            return self._uncertain(operation, reason)
        return GaeResult(
            operation=operation,
            outcome=GaeOutcome.UNAVAILABLE,
            code="",
            message=f"Up2pay GAE indisponible / unavailable: {reason}.",
        )

    def _fields(
        self, request: _Request, operation: Operation, *, question_number: int, now: datetime
    ) -> list[tuple[str, str]]:
        return build_gae_request(
            credentials=self._credentials,
            operation=operation,
            question_number=question_number,
            now=now,
            leg=request.leg,
            numappel=request.numappel,
            numtrans=request.numtrans,
            amount=request.amount if operation is not Operation.INQUIRY else None,
            reference=request.reference,
        )

    async def _send(
        self,
        url: str,
        request: _Request,
        operation: Operation,
        state: _CallState,
        *,
        share: float,
    ) -> GaeResult | _NoAnswer:
        """POST one request; ``share`` of the remaining budget bounds this attempt."""
        seconds = max(0.05, (state.deadline - time.monotonic()) * share)
        now = self._clock()
        question = await self._numquestions.next(
            self._credentials.site, self._credentials.rang, now
        )
        fields = self._fields(request, operation, question_number=question, now=now)
        if operation is request.operation:
            state.sent = True
        started = time.monotonic()
        answer = await self._post(url, operation, fields, question, seconds)
        if _observers:
            code = (answer.code or "none") if isinstance(answer, GaeResult) else answer.kind
            elapsed = time.monotonic() - started
            for observer in _observers:
                observer(operation.value, url, code, elapsed)
        return answer

    async def _post(
        self,
        url: str,
        operation: Operation,
        fields: list[tuple[str, str]],
        question: int,
        seconds: float,
    ) -> GaeResult | _NoAnswer:
        try:
            async with asyncio.timeout(seconds):
                response = await self._http.post(
                    url,
                    content=urlencode(fields).encode("ascii"),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    timeout=seconds,
                    follow_redirects=False,
                )
        except TimeoutError:
            return _NoAnswer(f"{url} timed out", "timeout")
        except httpx.HTTPError as exc:
            return _NoAnswer(f"{url}: {type(exc).__name__}", "network_error")
        if response.status_code != 200:
            return _NoAnswer(
                f"{url} answered HTTP {response.status_code}", f"http_{response.status_code}"
            )
        try:
            parsed = parse_gae_response(response.content)
        except MalformedMessage:
            return _NoAnswer(f"{url} answered something that is not a GAE response", "unreadable")
        echoed = _field(parsed, "NUMQUESTION")
        if echoed is not None and echoed.isdigit() and int(echoed) != question:
            # The platform echoes SITE, RANG and NUMQUESTION; a mismatch means this answer is not
            # the one to our question (protocol §4.4).
            return _NoAnswer(f"{url} answered another question ({echoed})", "wrong_question")
        return _result(operation, parsed, url)


def went_through(operation: Operation, inquiry: GaeResult, *, first_refund: bool) -> bool | None:
    """Did a capture, cancel or refund whose answer is unknown execute, per an inquiry (00017)?

    True / False / None (the ``STATUS`` cannot tell). A refund is only proven by
    ``Remboursé`` when no refund of the transaction succeeded before (``first_refund``).
    """
    status = _normalise(inquiry.status)
    if operation is Operation.CAPTURE:
        if status in {"capture", "rembourse"} or inquiry.remittance:
            return True
        return False if status == "autorise" else None
    if operation is Operation.CANCEL:
        if status == "annule":
            return True
        return False if status in {"autorise", "capture"} else None
    if status == "rembourse":
        return True if first_refund else None
    return False if status == "capture" else None


@dataclass(frozen=True)
class _Request:
    operation: Operation
    leg: Leg | None
    amount: int | None
    reference: str | None
    numappel: Numappel
    numtrans: Numtrans
    first_refund: bool = False


@dataclass
class _CallState:
    deadline: float
    """``time.monotonic()`` value by which the whole call must be over."""
    sent: bool = False
    """Whether a money-moving request left and may have executed (reset once an inquiry proved
    it did not)."""


_PAST = {
    Operation.CAPTURE: "captured",
    Operation.CANCEL: "cancelled",
    Operation.REFUND: "refunded",
    Operation.INQUIRY: "inquired",
}
