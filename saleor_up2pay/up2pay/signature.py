"""RSA signature of IPNs and browser returns, checked on the raw bytes as received.

Protocol §3.3: the signed data is the query string (or body) **exactly as transmitted, still
URL-encoded**, from the first signed parameter up to ``&K=``; the signature is the value of ``K``,
URL-decoded once (or twice: double-encoded bodies exist) then base64-decoded; the algorithm is
RSASSA-PKCS1-v1_5 with SHA-1. Re-serialising parsed parameters breaks legitimate signatures, so
nothing here ever re-encodes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from saleor_up2pay.up2pay.errors import MalformedMessage

__all__ = ["SHIPPED_KEY_FILES", "PublicKeys", "SignedMessage", "split_signed"]

SHIPPED_KEY_FILES = ("pubkey.pem", "pubkey_RSA_2048.pem")
"""Up2pay's public keys shipped in ``saleor_up2pay/up2pay/keys/``: the 1024-bit key (protocol §3.4,
used in recette and production) and the 2048-bit key (protocol §3.6)."""


def _load_rsa(pem: bytes, origin: str) -> RSAPublicKey:
    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        msg = f"{origin} is not a PEM public key"
        raise ValueError(msg) from exc
    if not isinstance(key, RSAPublicKey):
        msg = f"{origin} is not an RSA public key"
        raise ValueError(msg)
    return key


class PublicKeys:
    """The RSA public keys we accept; which ones to try is chosen by the signature's length."""

    def __init__(self, keys: Iterable[RSAPublicKey]) -> None:
        self._keys = tuple(keys)
        if not self._keys:
            msg = "at least one public key is needed to verify Up2pay signatures"
            raise ValueError(msg)

    @classmethod
    def from_pem(cls, *pems: bytes) -> PublicKeys:
        """Keys from PEM texts."""
        return cls(_load_rsa(pem, f"key #{i + 1}") for i, pem in enumerate(pems))

    @classmethod
    def shipped(cls, extra_pem_paths: Sequence[str | Path] = ()) -> PublicKeys:
        """Up2pay's keys (1024 and 2048 bits) plus extra PEM files (sandbox key, key rotation)."""
        folder = resources.files("saleor_up2pay.up2pay").joinpath("keys")
        keys = [_load_rsa(folder.joinpath(name).read_bytes(), name) for name in SHIPPED_KEY_FILES]
        for path in extra_pem_paths:
            try:
                pem = Path(path).read_bytes()
            except OSError as exc:
                msg = f"cannot read public key file {path}: {exc.strerror}"
                raise ValueError(msg) from exc
            keys.append(_load_rsa(pem, str(path)))
        return cls(keys)

    @property
    def key_sizes(self) -> tuple[int, ...]:
        """Sizes in bits of the accepted keys, in order."""
        return tuple(key.key_size for key in self._keys)

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a PKCS#1 v1.5 SHA-1 signature of ``data`` by one of the keys."""
        for key in self._keys:
            if (key.key_size + 7) // 8 != len(signature):
                continue
            try:
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
            except InvalidSignature:
                continue
            return True
        return False


@dataclass(frozen=True)
class SignedMessage:
    """A message cut into the exact signed bytes, the decoded signature and signed parameters."""

    data: bytes
    """The signed bytes, exactly as received (still URL-encoded)."""
    signature: bytes
    """The raw signature (128 bytes for the 1024-bit key, 256 for the 2048-bit one)."""
    params: tuple[tuple[str, str], ...]
    """The signed parameters, URL-decoded, in order (nothing after the signature)."""
    dropped_prefix: str = ""
    """Leading parameters that were not signed (our own IPN URL parameters)."""
    unsigned_suffix: str = ""
    """Anything after the signature parameter (never trusted)."""


def _decode_signature(value: str) -> bytes:
    # URL-decode once, and again if it still holds escapes: POST bodies were seen double-encoded
    # (protocol §3.3 step 4). A framework may already have turned '+' into ' ': put it back.
    for _ in range(3):
        if "%" not in value:
            break
        value = unquote(value)
    value = value.replace(" ", "+")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "the signature is not valid base64"
        raise MalformedMessage(msg) from exc


def _parse_params(data: str) -> tuple[tuple[str, str], ...]:
    params = []
    for pair in data.split("&"):
        name, sep, value = pair.partition("=")
        if not sep or not name:
            msg = f"parameter {pair[:40]!r} is not name=value"
            raise MalformedMessage(msg)
        # Up2pay encodes spaces as %20 (protocol §3.3), so '+' is kept literally.
        params.append((unquote(name, errors="replace"), unquote(value, errors="replace")))
    return tuple(params)


def split_signed(
    raw: str | bytes, *, signature_param: str = "K", first_param: str | None = None
) -> SignedMessage:
    """Cut a raw query string or body into signed data and signature, without re-encoding.

    ``first_param`` names the first signed parameter of an IPN: everything before it (our own
    ``PBX_REPONDRE_A`` parameters) is dropped from the signed data. Without it, the whole message
    is signed (browser returns). Raises :class:`MalformedMessage`.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    text = text.strip().removeprefix("?")
    if not text:
        msg = "the message is empty"
        raise MalformedMessage(msg)
    start = 0
    if first_param is not None and not text.startswith(f"{first_param}="):
        pos = text.find(f"&{first_param}=")
        if pos < 0:
            msg = f"the message has no {first_param!r} parameter where signed data starts"
            raise MalformedMessage(msg)
        start = pos + 1
    marker = f"&{signature_param}="
    end = text.find(marker, start)
    if end < 0:
        msg = f"the message has no signature parameter {signature_param!r} after signed data"
        raise MalformedMessage(msg)
    data = text[start:end]
    signature, _, suffix = text[end + len(marker) :].partition("&")
    if not signature:
        msg = "the signature is empty"
        raise MalformedMessage(msg)
    try:
        data_bytes = data.encode("latin-1")
    except UnicodeEncodeError as exc:
        msg = "the message holds characters that cannot have been received on the wire"
        raise MalformedMessage(msg) from exc
    return SignedMessage(
        data=data_bytes,
        signature=_decode_signature(signature),
        params=_parse_params(data),
        dropped_prefix=text[: max(start - 1, 0)],
        unsigned_suffix=suffix,
    )
