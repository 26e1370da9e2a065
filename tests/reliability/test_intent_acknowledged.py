"""No money-moving GAE call is sent before a replica has its journal intent (issue 13).

A failover that lost the intent after the call would let Saleor's redelivery of the request
send it again: nothing would remember the first one. So the intent is confirmed on a replica
first (REDIS_REPLICA_ACK); when it cannot be, nothing is sent and the request fails like a
crash before GAE (Saleor redelivers). The test Redis has no replica: ``required`` is never
acknowledged, ``auto`` does not wait.
"""

from __future__ import annotations

import time

import pytest

from saleor_up2pay.redis_store import ReplicaAcks
from tests.conftest import TEST_REDIS
from tests.reliability.test_exactly_once import past_the_leases, pay
from tests.transactions.payment_world import World

pytestmark = pytest.mark.skipif(
    TEST_REDIS != "standalone", reason="needs a Redis without replicas (the default test Redis)"
)


async def _captures(world: World, numtrans: int) -> int:
    return sum(e["operation"] == "capture" for e in await world.executions(numtrans))


async def test_no_capture_is_sent_until_a_replica_has_its_intent(world: World) -> None:
    paid = await pay(world, "channel-eur-auth")
    world.app_services.replica_acks = ReplicaAcks("required", 20)  # never acknowledged here
    world.saleor.action_redeliveries = 0
    await world.request_action(paid.item.id, "CHARGE", "30.00")
    _, status, answer = world.saleor.webhook_responses[-1]
    assert status == 503, answer  # not sent; Saleor redelivers
    assert "STORE_UNAVAILABLE" in str(answer)
    world.saleor.action_redeliveries = 5
    await world.saleor.redeliver(world.app_url)  # the intent exists: re-entered, not sent
    assert await _captures(world, paid.numtrans) == 0
    assert paid.item.amounts["charged"] == 0

    # Acknowledged (``auto``: no replica to wait for): the settle job finds the intent, asks
    # GAE (not executed) and sends it, once.
    world.services.replica_acks = ReplicaAcks("auto")
    past_the_leases(world)
    await world.run_jobs(clock=lambda: time.time() + 120)
    assert await _captures(world, paid.numtrans) == 1
    assert paid.item.amounts["charged"] == 30
