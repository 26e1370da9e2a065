"""The sandbox's own RSA signing keys, generated once and kept under ``<data_dir>/sandbox/``.

Up2pay signs with a 1024-bit key, or a 2048-bit one when the request carries
``PBX_SIGN_KEYSIZE=2048`` (protocol §3.4, §3.6); the sandbox does the same with its own pair of
keys. Public halves are written beside the private ones (``pubkey.pem``,
``pubkey_RSA_2048.pem``) so the app can list them in ``UP2PAY_PUBLIC_KEYS``, and are served over
HTTP at the same names.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILES = {
    1024: ("sandbox_key.pem", "pubkey.pem"),
    2048: ("sandbox_key_2048.pem", "pubkey_RSA_2048.pem"),
}


class SigningKeys:
    """Loads (or creates on first use) the sandbox key of each size."""

    def __init__(self, key_dir: Path) -> None:
        self._dir = key_dir
        self._keys: dict[int, rsa.RSAPrivateKey] = {}
        self._lock = threading.Lock()

    def private_key(self, bits: int = 1024) -> rsa.RSAPrivateKey:
        with self._lock:
            if bits not in self._keys:
                self._keys[bits] = self._load_or_create(bits)
            return self._keys[bits]

    def public_pem(self, bits: int = 1024) -> bytes:
        return (
            self.private_key(bits)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def public_key_path(self, bits: int = 1024) -> Path:
        """Where the public key of that size is written (created on first call)."""
        self.private_key(bits)
        return self._dir / KEY_FILES[bits][1]

    def _load_or_create(self, bits: int) -> rsa.RSAPrivateKey:
        private_name, public_name = KEY_FILES[bits]
        private_path = self._dir / private_name
        if private_path.exists():
            loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey) or loaded.key_size != bits:
                msg = f"{private_path} is not a {bits}-bit RSA private key; delete it to regenerate"
                raise RuntimeError(msg)
            key = loaded
        else:
            self._dir.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # Written with 0600 from the start: never world-readable, not even briefly.
            fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        public_path = self._dir / public_name
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not public_path.exists() or public_path.read_bytes() != public:
            public_path.write_bytes(public)
        return key
