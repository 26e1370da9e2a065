"""Encryption of secrets at rest (HMAC keys, Saleor app tokens) with SECRET_KEY.

Rotation: set the new key as SECRET_KEY and the old one in SECRET_KEY_FALLBACKS; values encrypted
with a fallback still decrypt and are re-encrypted with the new key when next written
(:meth:`SecretBox.rotate` re-encrypts one value at once).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with SECRET_KEY or its fallbacks."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"saleor-up2pay/secretbox/v1:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class SecretBox:
    """Authenticated symmetric encryption keyed by SECRET_KEY (Fernet: AES-128-CBC + HMAC)."""

    def __init__(self, secret_key: str, fallbacks: list[str] | None = None) -> None:
        keys = [secret_key, *(fallbacks or [])]
        self._fernet = MultiFernet([_fernet(k) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            msg = "stored secret cannot be decrypted: was SECRET_KEY changed without a fallback?"
            raise SecretDecryptionError(msg) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored value with the current SECRET_KEY."""
        return self._fernet.rotate(token.encode()).decode()
