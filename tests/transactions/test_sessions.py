"""Payment sessions in a real Redis."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from saleor_up2pay.redis_store import purge_instance
from saleor_up2pay.transactions.sessions import (
    PaymentSession,
    SessionRepository,
    reference_index_key,
)

URL = "https://shop-a.example/graphql/"
OTHER_URL = "https://shop-b.example/graphql/"


def make_session(**overrides: Any) -> PaymentSession:
    values: dict[str, Any] = {
        "reference": "U4b3a16533e354721bda",
        "saleor_api_url": URL,
        "transaction_id": "VHJhbnNhY3Rpb25JdGVtOjE=",
        "source_type": "Checkout",
        "source_id": "Q2hlY2tvdXQ6MQ==",
        "channel": "channel-eur",
        "method": "APETIZ",
        "amount": Decimal("20.00"),
        "currency": "EUR",
        "action_type": "CHARGE",
        "return_url": "https://shop.example/checkout",
        "config_id": "default",
        "environment": "sandbox",
        "idempotency_key": "2de1b1d8-2a90-41f0-b38a-533bf96730a2",
    }
    values.update(overrides)
    return PaymentSession(**values)


class TestPaymentSession:
    def test_reference_longer_than_twenty_characters_is_rejected(self) -> None:
        """Up2pay refuses a Conecs PBX_CMD over 20 characters, so the model does too."""
        with pytest.raises(ValidationError):
            make_session(reference="U" * 21)


class TestSessionRepository:
    async def test_session_is_found_by_reference_transaction_and_idempotency_key(
        self, redis: aioredis.Redis
    ) -> None:
        """A saved session comes back, amount as Decimal, through each of its three lookups."""
        repo = SessionRepository(redis)
        session = make_session(initialize_response={"result": "CHARGE_ACTION_REQUIRED"})
        await repo.save(session)

        by_ref = await repo.get_by_reference(session.reference)
        assert by_ref == session
        assert by_ref is not None
        assert by_ref.amount == Decimal("20.00")
        assert await repo.get_by_transaction(URL, session.transaction_id) == session
        assert await repo.get_by_idempotency_key(URL, session.idempotency_key) == session

    async def test_unknown_lookups_answer_none(self, redis: aioredis.Redis) -> None:
        """Unknown reference, transaction or key is None, not an error."""
        repo = SessionRepository(redis)
        assert await repo.get_by_reference("Unope") is None
        assert await repo.get_by_transaction(URL, "nope") is None
        assert await repo.get_by_idempotency_key(URL, "nope") is None

    async def test_lookups_are_scoped_per_saleor_instance(self, redis: aioredis.Redis) -> None:
        """Another instance with the same transaction id or key does not see the session."""
        repo = SessionRepository(redis)
        session = make_session()
        await repo.save(session)
        assert await repo.get_by_transaction(OTHER_URL, session.transaction_id) is None
        assert await repo.get_by_idempotency_key(OTHER_URL, session.idempotency_key) is None

    async def test_create_returns_the_first_session_for_a_repeated_idempotency_key(
        self, redis: aioredis.Redis
    ) -> None:
        """A second create with the same idempotency key returns the stored session, unchanged."""
        repo = SessionRepository(redis)
        first, created = await repo.create(make_session())
        again, created_again = await repo.create(
            make_session(reference="Uffffffffffffffffff0", amount=Decimal("99"))
        )
        assert created
        assert not created_again
        assert again == first
        assert await repo.get_by_reference("Uffffffffffffffffff0") is None

    async def test_purge_leaves_a_harmless_dangling_reference_index(
        self, redis: aioredis.Redis
    ) -> None:
        """After APP_DELETED purges the instance, the reference no longer resolves to a session."""
        repo = SessionRepository(redis)
        session = make_session()
        await repo.save(session)
        await purge_instance(redis, URL)
        assert await redis.get(reference_index_key(session.reference)) == URL
        assert await repo.get_by_reference(session.reference) is None

    async def test_every_key_expires(self, redis: aioredis.Redis) -> None:
        """Sessions and their indexes carry the configured time to live."""
        repo = SessionRepository(redis, ttl=timedelta(days=2))
        await repo.save(make_session())
        keys = [key async for key in redis.scan_iter(match="up2pay:*")]
        assert len(keys) == 4
        for key in keys:
            assert 0 < await redis.ttl(key) <= 2 * 86400
