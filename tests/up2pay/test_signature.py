"""RSA signature checks on raw messages: public samples, tampering, encodings, key choice."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

import saleor_up2pay.up2pay
from saleor_up2pay.up2pay import MalformedMessage, PublicKeys, split_signed
from saleor_up2pay.up2pay.signature import SHIPPED_KEY_FILES
from tests.conftest import UP2PAY_DATA, require_shared
from tests.up2pay.samples import (
    SAMPLES,
    SAMPLES_FILE,
    fake_up2pay_key,
    fake_up2pay_key_2048,
    parse_samples,
    public_pem,
    signed_query,
)


@pytest.fixture(scope="module")
def keys() -> PublicKeys:
    return PublicKeys.shipped()


class TestPublicSamples:
    def test_every_sample_is_covered(self) -> None:
        """All six public samples are read, four that verify and two that do not."""
        assert [s.id for s in SAMPLES] == ["S1", "S2", "S4", "S5", "X1", "X2"]
        assert [s.verifies for s in SAMPLES] == [True, True, True, True, False, False]

    @pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
    def test_sample_verifies_exactly_when_marked(self, sample, keys) -> None:
        """Samples marked VERIFIES verify with the shipped keys and every other one fails."""
        message = split_signed(sample.raw, signature_param=sample.signature_param)
        assert keys.verify(message.data, message.signature) is sample.verifies

    @pytest.mark.parametrize("sample", [s for s in SAMPLES if s.verifies], ids=lambda s: s.id)
    def test_tampered_sample_fails(self, sample, keys) -> None:
        """Changing one digit of a signed value breaks the signature."""
        tampered = sample.raw.replace("Mt=", "Mt=9", 1)
        message = split_signed(tampered, signature_param=sample.signature_param)
        assert keys.verify(message.data, message.signature) is False

    def test_samples_file_parses_the_same_twice(self) -> None:
        """Parsing is a pure function of the file (the fixtures are not mutated by the tests)."""
        assert parse_samples(SAMPLES_FILE.read_text(encoding="utf-8")) == SAMPLES


class TestSplitSigned:
    def test_signed_data_is_kept_url_encoded(self) -> None:
        """The signed bytes are the raw encoded text; parameters are decoded separately."""
        message = split_signed("M=100&R=a%20b@c/d:e&E=00000&K=QUJD")
        assert message.data == b"M=100&R=a%20b@c/d:e&E=00000"
        assert message.params == (("M", "100"), ("R", "a b@c/d:e"), ("E", "00000"))
        assert message.signature == b"ABC"

    def test_double_url_encoded_signature_is_decoded(self, keys) -> None:
        """A signature URL-encoded twice (as in some POST bodies) still verifies (sample S2)."""
        s2 = next(s for s in SAMPLES if s.id == "S2")
        data, _, sig = s2.raw.partition("&K=")
        double = f"{data}&K={quote(sig, safe='')}"
        assert "%252B" in double
        message = split_signed(double)
        assert keys.verify(message.data, message.signature)

    def test_plus_turned_into_space_is_restored(self, keys) -> None:
        """A framework that turned '+' into ' ' in the signature does not break verification."""
        s1 = next(s for s in SAMPLES if s.id == "S1")
        assert "+" in s1.raw
        message = split_signed(s1.raw.replace("+", " "))
        assert keys.verify(message.data, message.signature)

    def test_ipn_drops_our_leading_parameters(self) -> None:
        """With first_param, our own IPN URL parameters are outside the signed data."""
        message = split_signed("shop=42&x=1&M=100&E=00000&K=QUJD", first_param="M")
        assert message.data == b"M=100&E=00000"
        assert message.dropped_prefix == "shop=42&x=1"

    def test_parameters_after_signature_are_not_signed(self) -> None:
        """Anything after K is reported apart and never part of the parameters."""
        message = split_signed("M=100&E=00000&K=QUJD&extra=1")
        assert message.params == (("M", "100"), ("E", "00000"))
        assert message.unsigned_suffix == "extra=1"

    @pytest.mark.parametrize(
        ("raw", "why"),
        [
            ("", "empty"),
            ("M=100&E=00000", "no signature parameter"),
            ("K=QUJD", "no signature parameter"),
            ("M=100&K=", "signature is empty"),
            ("M=100&K=%%%", "not valid base64"),
            ("M=100&junk&K=QUJD", "not name=value"),
        ],
    )
    def test_malformed_messages_are_refused(self, raw, why) -> None:
        """Messages without readable data or signature raise MalformedMessage."""
        with pytest.raises(MalformedMessage, match=why):
            split_signed(raw)

    def test_missing_first_param_is_malformed(self) -> None:
        """An IPN without the first signed parameter is malformed."""
        with pytest.raises(MalformedMessage, match="no 'M' parameter"):
            split_signed("shop=42&E=00000&K=QUJD", first_param="M")


class TestPublicKeys:
    def test_shipped_keys_are_1024_and_2048_bits(self) -> None:
        """Both Up2pay keys ship with the package."""
        assert PublicKeys.shipped().key_sizes == (1024, 2048)

    def test_extra_pem_file_is_accepted(self, tmp_path: Path) -> None:
        """A key from an extra PEM file (sandbox, rotation) verifies its own signatures."""
        pem = tmp_path / "sandbox.pem"
        pem.write_bytes(public_pem(fake_up2pay_key()))
        message = split_signed(signed_query("M=100&E=00000"))
        assert not PublicKeys.shipped().verify(message.data, message.signature)
        assert PublicKeys.shipped([pem]).verify(message.data, message.signature)

    def test_2048_bit_signatures_are_checked_with_2048_bit_keys(self) -> None:
        """A 256-byte signature is checked against 2048-bit keys only, and verifies with the right one."""
        key = fake_up2pay_key_2048()
        message = split_signed(signed_query("M=100&E=00000", key))
        assert len(message.signature) == 256
        assert not PublicKeys.shipped().verify(message.data, message.signature)
        assert PublicKeys.from_pem(public_pem(fake_up2pay_key()), public_pem(key)).verify(
            message.data, message.signature
        )

    def test_key_is_chosen_by_signature_length(self) -> None:
        """Only keys whose size matches the signature's length are tried (128 bytes -> 1024 bits)."""

        class Spy:
            def __init__(self, key) -> None:
                self.key, self.key_size, self.calls = key, key.key_size, 0

            def verify(self, *args) -> None:
                self.calls += 1
                self.key.verify(*args)

        small, large = Spy(fake_up2pay_key().public_key()), Spy(fake_up2pay_key_2048().public_key())
        keys = PublicKeys([large, small])  # type: ignore[list-item]
        message = split_signed(signed_query("M=100&E=00000"))
        assert keys.verify(message.data, message.signature)
        assert (large.calls, small.calls) == (0, 1)
        message = split_signed(signed_query("M=100&E=00000", fake_up2pay_key_2048()))
        assert keys.verify(message.data, message.signature)
        assert (large.calls, small.calls) == (1, 1)

    def test_shipped_keys_are_the_protocol_notes_keys(self) -> None:
        """The shipped PEM files are, byte for byte, the 1024 and 2048-bit keys of protocol §3.4/§3.6."""
        notes = require_shared(UP2PAY_DATA / "protocol-public-keys.pem").read_text(encoding="utf-8")
        pems = re.findall(r"-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----", notes, re.S)
        folder = Path(saleor_up2pay.up2pay.__file__).parent / "keys"
        shipped = [(folder / name).read_text().strip() for name in SHIPPED_KEY_FILES]
        assert shipped == [pem.strip() for pem in pems[:2]]

    def test_signature_of_wrong_length_fails(self) -> None:
        """A signature of a length no key has fails instead of erroring."""
        assert PublicKeys.shipped().verify(b"M=1", b"\x01" * 100) is False

    def test_unreadable_extra_key_is_a_clear_error(self, tmp_path: Path) -> None:
        """A missing or non-PEM key file raises a ValueError naming it."""
        with pytest.raises(ValueError, match="cannot read public key file"):
            PublicKeys.shipped([tmp_path / "missing.pem"])
        bad = tmp_path / "bad.pem"
        bad.write_text("nope")
        with pytest.raises(ValueError, match=r"bad\.pem is not a PEM public key"):
            PublicKeys.shipped([bad])
