"""``saleor-up2pay ipn verify``: check an Up2pay notification the way the app does.

For merchants debugging a notification: paste the query string (or the whole URL, or the POST body)
exactly as received — or ``-`` to read it from stdin — and see its fields and whether the signature
holds. Exit status: 0 valid, 1 invalid signature, 2 malformed message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from saleor_up2pay.up2pay.errors import MalformedMessage, ProtocolViolation
from saleor_up2pay.up2pay.hosted_page import RETOUR_NAMES, parse_retour
from saleor_up2pay.up2pay.notifications import parse_notification
from saleor_up2pay.up2pay.signature import PublicKeys, split_signed

__all__ = ["register", "verify_command"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_MALFORMED = 2


def register(subparsers: Any) -> None:
    """Add ``ipn verify`` to the ``saleor-up2pay`` parser's subcommands."""
    ipn = subparsers.add_parser("ipn", help="inspect Up2pay notifications")
    ipn_sub = ipn.add_subparsers(dest="ipn_command", required=True)
    verify = ipn_sub.add_parser(
        "verify",
        help="verify the signature of an IPN or browser return and print its fields",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument(
        "query", help="the query string, URL or POST body exactly as received; '-' reads stdin"
    )
    verify.add_argument(
        "--signature-param",
        default="K",
        metavar="NAME",
        help="name of the signature parameter (default: K)",
    )
    verify.add_argument(
        "--first-param",
        default=None,
        metavar="NAME",
        help="IPN: first signed parameter; parameters before it (your own, from PBX_REPONDRE_A) "
        "are not signed. Default: everything is signed (browser return, or IPN without own "
        "parameters)",
    )
    verify.add_argument(
        "--retour",
        default=None,
        metavar="SPEC",
        help="the PBX_RETOUR the payment was made with, to interpret the fields "
        "(default: the app's own)",
    )
    verify.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="PEM",
        help="extra public key file to accept (repeatable), besides UP2PAY_PUBLIC_KEYS",
    )
    verify.set_defaults(func=_run_verify)


def _run_verify(args: argparse.Namespace) -> int:
    from saleor_up2pay.settings import load_settings  # noqa: PLC0415 - only this command needs it

    settings = load_settings()
    raw = sys.stdin.read() if args.query == "-" else args.query
    try:
        keys = PublicKeys.shipped([*settings.up2pay_public_keys, *args.key])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_MALFORMED
    names: Mapping[str, str] = RETOUR_NAMES
    if args.retour:
        try:
            names = parse_retour(args.retour.replace(" ", ""))
        except ProtocolViolation as exc:
            print(f"error: --retour: {exc}", file=sys.stderr)
            return EXIT_MALFORMED
    return verify_command(
        raw,
        keys,
        signature_param=args.signature_param,
        first_param=args.first_param,
        names=names,
        out=sys.stdout,
    )


def verify_command(
    raw: str,
    keys: PublicKeys,
    *,
    signature_param: str = "K",
    first_param: str | None = None,
    names: Mapping[str, str] = RETOUR_NAMES,
    out: TextIO,
) -> int:
    """Print the fields of ``raw`` and whether its signature holds; returns the exit status."""
    text = raw.strip()
    if "?" in text:  # a whole URL or path: the query is what was signed
        text = text.split("?", 1)[1]
    text = text.split("#", 1)[0]
    try:
        message = split_signed(text, signature_param=signature_param, first_param=first_param)
    except MalformedMessage as exc:
        print(f"MALFORMED: {exc}", file=out)
        return EXIT_MALFORMED
    if message.dropped_prefix:
        print(f"not signed (leading): {message.dropped_prefix}", file=out)
    print(f"signed data: {message.data.decode('latin-1')}", file=out)
    width = max(len(name) for name, _ in message.params)
    for name, value in message.params:
        print(f"  {name.ljust(width)} = {value}", file=out)
    if message.unsigned_suffix:
        print(f"not signed (after the signature): {message.unsigned_suffix}", file=out)
    size = len(message.signature) * 8
    if not keys.verify(message.data, message.signature):
        print(
            f"signature: INVALID ({len(message.signature)} bytes, no accepted {size}-bit key "
            "verifies it)",
            file=out,
        )
        return EXIT_INVALID
    print(f"signature: valid (RSA {size}-bit, SHA-1)", file=out)
    _interpret(message.params, names, out)
    return EXIT_VALID


def _interpret(params: Sequence[tuple[str, str]], names: Mapping[str, str], out: TextIO) -> None:
    try:
        notification = parse_notification(params, names=names)
    except MalformedMessage as exc:
        print(f"not interpreted ({exc}; pass --retour with the PBX_RETOUR used)", file=out)
        return
    print(
        f"outcome: {notification.outcome.value} (code {notification.error_code}) — "
        f"{notification.message_en} / {notification.message_fr}",
        file=out,
    )
    print(
        f"leg: {notification.leg.value}  amount: {notification.amount_decimal} EUR  "
        f"reference: {notification.reference}  call: {notification.numappel or '-'}  "
        f"transaction: {notification.numtrans or '-'}  "
        f"authorization: {notification.authorization or '-'}",
        file=out,
    )
