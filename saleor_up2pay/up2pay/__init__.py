"""Up2pay e-Transactions (Crédit Agricole / Verifone-Paybox) protocol core.

Everything the app says to and hears from Up2pay, correct to the byte. This package never imports
the Saleor side, the use cases, the dashboard or the sandbox, and never reads settings: every
configuration value is a constructor or function argument, so it can be reused and tested alone.
Sources: ``shared/reference/up2pay-protocol.md`` (cited "protocol §x") and the Conecs/CV-Connect
manual (cited "manual §x"). Money is ``int`` minor units inside this package; ``Decimal`` euros at
the edges (:func:`to_minor_units`, :func:`from_minor_units`).

Public API (everything below is importable from ``saleor_up2pay.up2pay``)
------------------------------------------------------------------------

Models (``models.py``)
    ``Method`` (StrEnum: APETIZ, SODEXO, UPCHEQUDEJ, CVCONNECT) — what a shopper can pick;
    ``method.leg``, ``method.label``, ``method.kind`` ("meal" | "holiday").
    ``Leg`` (StrEnum: APETIZ, SODEXO, UPCHEQUDEJ, CVCONNECT, LIMOCB, CARD) — one transaction of a
    payment; ``Leg.from_card_type(c)`` maps the IPN ``C`` value (any other brand -> CARD);
    ``leg.acquirer`` = GAE ``ACQUEREUR`` (None for CARD); ``leg.capabilities``; ``leg.label``;
    ``leg.is_voucher`` (the four methods' legs), ``leg.is_conecs``.
    ``Capabilities(capture, cancel, refund, partial_capture_voids_rest, refund_from_next_day,
    several_partial_refunds)`` and ``CAPABILITIES: Mapping[Leg, Capabilities]`` — THE table.
    ``Credentials(site, rang, identifiant, hmac_key)`` — validated, repr hides the key.
    ``to_minor_units(Decimal, currency) -> int`` (refuses non-EUR and sub-cent amounts),
    ``from_minor_units(int) -> Decimal``, ``EUR_NUMERIC = "978"``.

Errors (``errors.py``): ``Up2payError`` > ``InvalidPaymentRequest`` > ``UnsupportedCurrency``,
    ``InvalidAmount``; ``Up2payError`` > ``ProtocolViolation`` (our bug, e.g. ``U`` in PBX_RETOUR);
    ``Up2payError`` > ``MalformedMessage`` (cannot be read) and ``SignatureInvalid`` (read, but the
    signature does not hold); ``Up2payError`` > ``PlatformUnavailable`` (no hosted page is up);
    ``Up2payError`` > ``QuestionNumbersUnavailable`` (no NUMQUESTION could be drawn: raised by
    ``RedisNumQuestions``, turned into a result by ``GaeClient``).

Environments (``environments.py``)
    ``EnvironmentName`` (StrEnum sandbox/test/live); ``Endpoints(hosted_page_urls, gae_urls,
    check_availability)`` (first URL = main, second = backup);
    ``endpoints_for(name, *, sandbox_url="http://localhost:8090", hosted_page_urls=(),
    gae_urls=())`` -> Endpoints (overrides replace the defaults, first = main);
    ``load_url(hosted_page_url)`` -> ``.../load.html``;
    ``HostedPageLocator(http, *, cache_seconds=30.0, timeout=5.0)`` with
    ``await locator.action_url(endpoints)`` -> main URL, or the backup when main's ``load.html``
    is not OK (live only; raises PlatformUnavailable when none is up).

Hosted page (``hosted_page.py``)
    ``ReturnUrls(accepted, refused, cancelled, pending, ipn)``;
    ``RedirectForm(action_url, fields: tuple[tuple[str, str], ...])`` with ``.method == "POST"``,
    ``.field(name)``, ``.to_json()`` -> ``{"action", "method", "fields": [[name, value], ...]}``;
    ``build_payment_form(*, credentials, action_url, method, amount: Decimal, currency,
    order_reference, customer_email, urls, now: datetime, language="FRA", ipn_method="POST",
    authorize_only=False, sign_keysize=None)`` -> RedirectForm. Field order: SITE, RANG,
    IDENTIFIANT, TOTAL, DEVISE, CMD, PORTEUR, RETOUR, HASH, TIME, EFFECTUE, REFUSE, ANNULE,
    ATTENTE, REPONDRE_A, [RUF1], [LANGUE], TYPEPAIEMENT, TYPECARTE, [AUTOSEULE=O],
    [SIGN_KEYSIZE], HMAC. ``PBX_RETOUR`` (the fixed spec, K last, never U), ``RETOUR_NAMES``
    (name -> letter), ``parse_retour(spec)`` (validates), ``compute_hmac(fields, hex_key)``,
    ``ORDER_REFERENCE_RE``, ``OrderReferences(redis)`` with ``await refs.new(prefix="")`` ->
    a unique 20-character PBX_CMD (SET NX) and ``await refs.reserve(ref)`` -> bool.

Signatures (``signature.py``)
    ``PublicKeys`` — ``PublicKeys.shipped(extra_pem_paths=())`` (the 1024 and 2048-bit Up2pay
    keys + extra PEM files), ``PublicKeys.from_pem(*pems)``; ``keys.verify(data, signature)``
    -> bool (key picked by signature length); build it once per process (key loading is not
    free). ``SignedMessage(data: bytes, signature: bytes, params: tuple[tuple[str, str], ...],
    dropped_prefix, unsigned_suffix)``; ``split_signed(raw: str | bytes, *, signature_param="K",
    first_param=None)`` -> SignedMessage (raises MalformedMessage).

Notifications (``notifications.py``)
    ``Outcome`` (StrEnum PAID, REFUSED, PENDING, PLATFORM_ERROR, ERROR);
    ``Notification`` (amount: int cents of THIS leg, reference (R = PBX_CMD), numappel (T),
    numtrans (S, the idempotency key), authorization (A, optional), card_type (C raw),
    leg, payment_type (P), error_code (E), outcome, bank_code, message_fr, message_en,
    subscription, processing_time, processing_date, country, mixed_index ((i, n) from Z),
    params; ``.amount_decimal``, ``.is_paid``, ``.is_limonetik``). A plain CARD leg paid without
    A reads as ERROR; LIMONETIK legs never need A.
    ``verify_ipn(raw: str | bytes, keys, *, first_param=None -> "M", signature_param=None -> "K",
    names=RETOUR_NAMES)`` -> Notification — IPN (GET: the raw query string; POST: the raw body):
    our own leading parameters are dropped, signed data starts at ``first_param``;
    ``verify_return(raw, keys, *, signature_param=None -> "K", names=RETOUR_NAMES)`` ->
    Notification — browser return: the whole query string is signed;
    both raise SignatureInvalid / MalformedMessage and read only signed parameters.
    ``parse_notification(params, *, names=RETOUR_NAMES)`` (already verified params only).
    ``describe_error_code(code)`` -> ``(CodeInfo(outcome, fr, en), bank_code | None)``;
    tables ``codes.IPN_CODES``, ``codes.BANK_CODES``, ``codes.GAE_CODES``.

GAE (``gae.py``)
    ``Operation`` (StrEnum CAPTURE=00002, CANCEL=00005, REFUND=00014, INQUIRY=00017);
    ``GaeOutcome`` (SUCCESS, REFUSED = 001xx, FAILED = other code or unknown code, UNAVAILABLE =
    no answer and nothing executed, UNCERTAIN = a capture/cancel/refund may have executed: do not
    retry blindly); ``GaeResult`` (operation, outcome, code, message (FR / EN meaning + the
    platform's COMMENTAIRE), comment, numtrans (for a refund: the refund's own NUMTRANS),
    numappel, authorization, question_number, status, remittance, host, failed_over,
    confirmed_by_inquiry, fields; ``.ok``);
    ``NumQuestions`` protocol and ``RedisNumQuestions(redis)`` (per SITE/RANG per Paris day);
    ``GaeClient(http, credentials, gae_urls, numquestions, *, time_budget=12.0, clock=...)``
    with ``capture/cancel(*, leg, amount: int, reference, numappel, numtrans)``,
    ``refund(..., first_refund=False)``, ``inquire(*, leg | None, numappel,
    numtrans, reference=None)`` — all return a GaeResult (never raise for platform
    answers, network errors or a Redis failure while drawing NUMQUESTION: that is UNAVAILABLE,
    or UNCERTAIN if a money-moving request had already left); they raise
    InvalidPaymentRequest before any request when the leg
    does not allow the operation (CAPABILITIES) or a value is invalid;
    ``check_credentials()`` -> ``CredentialsCheck(verdict: CredentialsVerdict ACCEPTED | REFUSED |
    UNAVAILABLE | INCONCLUSIVE, code, message; .ok)``;
    ``build_gae_request(...)``, ``parse_gae_response(bytes)``, ``describe_gae_code(code)``.

CLI (``cli.py``): ``saleor-up2pay ipn verify QUERY|- [--signature-param K] [--first-param M]
[--retour SPEC] [--key PEM]...``; extra keys also from ``UP2PAY_PUBLIC_KEYS``.
"""

from saleor_up2pay.up2pay.codes import (
    GAE_FAILOVER_CODES,
    GaeOutcome,
    Outcome,
    describe_error_code,
    describe_gae_code,
)
from saleor_up2pay.up2pay.environments import (
    Endpoints,
    EnvironmentName,
    HostedPageLocator,
    endpoints_for,
    load_url,
)
from saleor_up2pay.up2pay.errors import (
    InvalidAmount,
    InvalidPaymentRequest,
    MalformedMessage,
    PlatformUnavailable,
    ProtocolViolation,
    QuestionNumbersUnavailable,
    SignatureInvalid,
    UnsupportedCurrency,
    Up2payError,
)
from saleor_up2pay.up2pay.gae import (
    CredentialsCheck,
    CredentialsVerdict,
    GaeClient,
    GaeResult,
    NumQuestions,
    Operation,
    RedisNumQuestions,
    build_gae_request,
    parse_gae_response,
    went_through,
)
from saleor_up2pay.up2pay.hosted_page import (
    ORDER_REFERENCE_RE,
    PBX_RETOUR,
    RETOUR_NAMES,
    OrderReferences,
    RedirectForm,
    ReturnUrls,
    build_payment_form,
    compute_hmac,
    parse_retour,
)
from saleor_up2pay.up2pay.models import (
    CAPABILITIES,
    EUR_NUMERIC,
    Capabilities,
    Credentials,
    Leg,
    Method,
    from_minor_units,
    to_minor_units,
)
from saleor_up2pay.up2pay.notifications import (
    Notification,
    parse_notification,
    verify_ipn,
    verify_return,
)
from saleor_up2pay.up2pay.signature import PublicKeys, SignedMessage, split_signed

__all__ = [
    "CAPABILITIES",
    "EUR_NUMERIC",
    "GAE_FAILOVER_CODES",
    "ORDER_REFERENCE_RE",
    "PBX_RETOUR",
    "RETOUR_NAMES",
    "Capabilities",
    "Credentials",
    "CredentialsCheck",
    "CredentialsVerdict",
    "Endpoints",
    "EnvironmentName",
    "GaeClient",
    "GaeOutcome",
    "GaeResult",
    "HostedPageLocator",
    "InvalidAmount",
    "InvalidPaymentRequest",
    "Leg",
    "MalformedMessage",
    "Method",
    "Notification",
    "NumQuestions",
    "Operation",
    "OrderReferences",
    "Outcome",
    "PlatformUnavailable",
    "ProtocolViolation",
    "PublicKeys",
    "QuestionNumbersUnavailable",
    "RedirectForm",
    "RedisNumQuestions",
    "ReturnUrls",
    "SignatureInvalid",
    "SignedMessage",
    "UnsupportedCurrency",
    "Up2payError",
    "build_gae_request",
    "build_payment_form",
    "compute_hmac",
    "describe_error_code",
    "describe_gae_code",
    "endpoints_for",
    "from_minor_units",
    "load_url",
    "parse_gae_response",
    "parse_notification",
    "parse_retour",
    "split_signed",
    "to_minor_units",
    "verify_ipn",
    "verify_return",
    "went_through",
]
