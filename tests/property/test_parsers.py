"""Property-based tests of every parser that reads bytes from outside (issue 11).

Each parser either returns or raises its documented error, never anything else; a verified
message is never accepted once altered; and what has a round trip survives it.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from saleor_up2pay import jsonbody
from saleor_up2pay.configuration import ConfigurationInput
from saleor_up2pay.dashboard.credentials import CredentialsInput
from saleor_up2pay.dashboard.routes import _parse_body
from saleor_up2pay.errors import BadRequest
from saleor_up2pay.saleor import payloads
from saleor_up2pay.transactions.source import PayloadError, RequestedAction
from saleor_up2pay.up2pay import MalformedMessage, SignatureInvalid
from saleor_up2pay.up2pay.gae import parse_gae_response
from saleor_up2pay.up2pay.notifications import verify_ipn, verify_return
from saleor_up2pay.up2pay.signature import PublicKeys
from tests.transactions.ipn_support import _signing_key, ipn_values, signed_ipn

KEYS = PublicKeys.from_pem(
    _signing_key()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
)
REFERENCE = st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True)
QUERYISH = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.tuples(
            st.sampled_from(["M", "R", "T", "A", "B", "C", "E", "K", "S", "outcome", "x"]),
            st.text(max_size=40),
        ),
        max_size=12,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8")),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


class TestUp2payNotifications:
    @given(QUERYISH)
    def test_ipn_parser_raises_only_its_errors(self, raw: bytes) -> None:
        """Anything as an IPN: a Notification, MalformedMessage or SignatureInvalid."""
        with contextlib.suppress(MalformedMessage, SignatureInvalid):
            verify_ipn(raw, KEYS)

    @given(QUERYISH)
    def test_browser_return_parser_raises_only_its_errors(self, raw: bytes) -> None:
        """Anything as a browser return: only the two documented errors."""
        with contextlib.suppress(MalformedMessage, SignatureInvalid):
            verify_return(raw, KEYS)

    @given(reference=REFERENCE, cents=st.integers(min_value=1, max_value=10**9))
    def test_signed_ipn_round_trip(self, reference: str, cents: int) -> None:
        """A genuine IPN reads back its reference and amount."""
        notification = verify_ipn(signed_ipn(ipn_values(reference, amount_cents=cents)), KEYS)
        assert notification.reference == reference
        assert notification.amount_decimal == Decimal(cents) / 100

    @given(data=st.data(), cents=st.integers(min_value=1, max_value=10**6))
    def test_altered_ipn_is_never_accepted_as_something_else(
        self, data: st.DataObject, cents: int
    ) -> None:
        """Change, insert or delete one byte: refused, or read exactly as the original."""
        raw = bytearray(signed_ipn(ipn_values("ORDER1", amount_cents=cents)))
        original = verify_ipn(bytes(raw), KEYS)
        position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.integers(min_value=0, max_value=255))
        if action == "replace":
            assume(raw[position] != byte)
            raw[position] = byte
        elif action == "insert":
            raw.insert(position, byte)
        else:
            del raw[position]
        try:
            altered = verify_ipn(bytes(raw), KEYS)
        except (MalformedMessage, SignatureInvalid):
            return
        assert (altered.reference, altered.amount, altered.error_code) == (
            original.reference,
            original.amount,
            original.error_code,
        )


class TestGaeAnswers:
    @given(st.binary(max_size=800))
    def test_gae_parser_raises_only_malformed(self, body: bytes) -> None:
        """Any bytes from a GAE host: pairs or MalformedMessage."""
        try:
            pairs = parse_gae_response(body)
        except MalformedMessage:
            return
        assert any(name == "CODEREPONSE" for name, _ in pairs)

    @given(
        st.dictionaries(
            st.from_regex(r"[A-Z]{3,12}", fullmatch=True),
            st.text(
                alphabet=st.characters(codec="latin-1", exclude_characters="&\r\n "), max_size=30
            ),
            max_size=8,
        ),
        st.from_regex(r"[0-9]{5}", fullmatch=True),
    )
    def test_gae_round_trip(self, fields: dict[str, str], code: str) -> None:
        """Pairs written the way GAE answers come back as written."""
        fields = {**fields, "CODEREPONSE": code}
        body = "&".join(f"{k}={v}" for k, v in fields.items()).encode("latin-1")
        assert dict(parse_gae_response(body)) == fields


class TestSaleorPayloads:
    @given(st.binary(max_size=400) | JSON.map(lambda v: json.dumps(v).encode()))
    def test_json_bodies_parse_or_raise_value_error(self, raw: bytes) -> None:
        """Request bodies: a value, or a ValueError the routes turn into 400."""
        with contextlib.suppress(ValueError):
            jsonbody.loads(raw, parse_float=Decimal)

    @given(st.integers(min_value=1, max_value=3000))
    def test_depth_limit_is_exact(self, depth: int) -> None:
        """Nesting up to the limit parses; beyond it, JsonTooDeep — never RecursionError."""
        raw = "[" * depth + "]" * depth
        if depth <= jsonbody.MAX_JSON_DEPTH:
            assert jsonbody.loads(raw) is not None
        else:
            with pytest.raises(jsonbody.JsonTooDeep):
                jsonbody.loads(raw)

    @given(st.dictionaries(st.sampled_from(["sourceObject", "action", "x"]), JSON, max_size=3))
    def test_payload_readers_raise_only_payload_error(self, payload: dict[str, Any]) -> None:
        """A verified but unexpected Saleor payload: the readers raise PayloadError only."""
        with contextlib.suppress(PayloadError):
            RequestedAction.from_payload(payload)
        for model in (
            payloads.PaymentGatewayInitializeSession,
            payloads.TransactionInitializeSession,
        ):
            with contextlib.suppress(payloads.PayloadError):
                model.parse(payload)


class TestDashboardInputs:
    @given(st.binary(max_size=400) | JSON.map(lambda v: json.dumps(v).encode()))
    def test_graphql_body_parser_raises_only_bad_request(self, raw: bytes) -> None:
        """The dashboard API body: (query, variables, operation) or BadRequest."""
        try:
            query, variables, operation = _parse_body(raw)
        except BadRequest:
            return
        assert isinstance(query, str)
        assert variables is None or isinstance(variables, dict)
        assert operation is None or isinstance(operation, str)

    @given(
        st.dictionaries(
            st.sampled_from(
                ["id", "name", "environment", "site", "rang", "identifiant", "hmac_key", "methods"]
            ),
            JSON,
            max_size=8,
        )
    )
    def test_configuration_inputs_raise_only_validation_errors(self, data: dict[str, Any]) -> None:
        """Configuration and credentials inputs: a model or a ValidationError."""
        for model in (ConfigurationInput, CredentialsInput):
            with contextlib.suppress(ValidationError):
                model.model_validate(data)
