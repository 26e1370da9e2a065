"""Public signed Up2pay/Paybox samples (``tests/data/up2pay/up2pay-signed-samples.txt``) and a
test RSA key to sign LIMONETIK notifications the public record does not have."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SAMPLES_FILE = Path(__file__).resolve().parents[1] / "data" / "up2pay" / "up2pay-signed-samples.txt"


@dataclass(frozen=True)
class Sample:
    id: str
    verifies: bool
    raw: str
    """A query string ready for the verifier, signature parameter ``signature_param``."""
    signature_param: str


def parse_samples(text: str) -> list[Sample]:
    """Read every entry of the samples file into a raw query string plus its expected result."""
    samples = []
    for block in text.split("\nID: ")[1:]:
        lines = block.splitlines()
        sample_id = lines[0].strip()
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        verifies = fields["RESULT"].startswith("VERIFIES")
        if "SIGNED-DATA" in fields:
            raw = f"{fields['SIGNED-DATA']}&K={fields['SIGNATURE']}"
            samples.append(Sample(sample_id, verifies, raw, "K"))
        else:
            raw = fields["RAW"].split("?", 1)[1]
            samples.append(Sample(sample_id, verifies, raw, "signature"))
    return samples


SAMPLES = parse_samples(SAMPLES_FILE.read_text(encoding="utf-8"))


@cache
def fake_up2pay_key() -> rsa.RSAPrivateKey:
    """A 1024-bit key standing in for Up2pay's in tests of our own signed notifications."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@cache
def fake_up2pay_key_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(data: str, key: rsa.RSAPrivateKey | None = None) -> str:
    """The URL-encoded base64 PKCS#1 v1.5 SHA-1 signature of ``data``, as Up2pay sends ``K``."""
    signature = (key or fake_up2pay_key()).sign(data.encode(), padding.PKCS1v15(), hashes.SHA1())
    return quote(base64.b64encode(signature).decode(), safe="")


def signed_query(data: str, key: rsa.RSAPrivateKey | None = None, name: str = "K") -> str:
    return f"{data}&{name}={sign(data, key)}"
