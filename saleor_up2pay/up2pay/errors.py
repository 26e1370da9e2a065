"""Errors raised by the Up2pay core.

Payment outcomes (a refused voucher, a refused refund) are values (``Notification.outcome``,
``GaeResult.outcome``); these exceptions are for requests we refuse to build, messages we cannot
trust, and platform-wide unavailability::

    Up2payError
    ├── InvalidPaymentRequest     the caller asked for something Up2pay cannot do
    │   ├── UnsupportedCurrency   anything but euros (Conecs and CV-Connect take EUR only)
    │   └── InvalidAmount         zero, negative or sub-cent amounts
    ├── ProtocolViolation         a bug on our side (e.g. ``U`` in PBX_RETOUR): never send it
    ├── MalformedMessage          a notification/response that cannot be read at all
    ├── SignatureInvalid          a readable notification whose RSA signature does not hold
    ├── PlatformUnavailable       no Up2pay host answers its availability check
    └── QuestionNumbersUnavailable  no GAE ``NUMQUESTION`` could be drawn (the store failed);
                                  :class:`~saleor_up2pay.up2pay.gae.GaeClient` turns it into an
                                  UNAVAILABLE (or UNCERTAIN) result, it never escapes a GAE call
"""

from __future__ import annotations

__all__ = [
    "InvalidAmount",
    "InvalidPaymentRequest",
    "MalformedMessage",
    "PlatformUnavailable",
    "ProtocolViolation",
    "QuestionNumbersUnavailable",
    "SignatureInvalid",
    "UnsupportedCurrency",
    "Up2payError",
]


class Up2payError(Exception):
    """Base of every error raised by :mod:`saleor_up2pay.up2pay`. Messages never hold secrets."""


class InvalidPaymentRequest(Up2payError, ValueError):
    """The requested payment or operation cannot be expressed in the Up2pay protocol."""


class UnsupportedCurrency(InvalidPaymentRequest):
    """Only euros (ISO 4217 978): Conecs and CV-Connect are euro-only (manual §2.1.2.2)."""


class InvalidAmount(InvalidPaymentRequest):
    """The amount is not a positive whole number of cents."""


class ProtocolViolation(Up2payError):
    """We were about to send something the protocol forbids; this is a bug, never sent."""


class MalformedMessage(Up2payError):
    """A message from (or claiming to be from) Up2pay that cannot be parsed."""


class SignatureInvalid(Up2payError):
    """The message is readable but its signature does not verify with any accepted key."""


class PlatformUnavailable(Up2payError):
    """Neither the main nor the backup Up2pay host reports itself available."""


class QuestionNumbersUnavailable(Up2payError):
    """No ``NUMQUESTION`` could be drawn (e.g. Redis is unreachable): nothing was sent for it."""
