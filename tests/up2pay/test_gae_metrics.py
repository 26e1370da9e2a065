"""Every request sent to a GAE host is counted by TYPE, host and answer code, with its latency
(the adapter tells an observer; the app's metrics count it)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from saleor_up2pay import metrics
from saleor_up2pay.up2pay import GaeClient, RedisNumQuestions
from saleor_up2pay.up2pay.models import Credentials, Numappel, Numtrans

CREDS = Credentials(site="1999888", rang="32", identifiant="107904482", hmac_key="0A" * 64)
MAIN = "https://main.gae.test/PPPS.php"
BACKUP = "https://backup.gae.test/PPPS.php"


def count(host: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "up2pay_gae_requests_total", {"type": "00017", "host": host, "code": code}
    )
    return value or 0.0


async def test_a_failover_counts_both_hosts(redis: aioredis.Redis) -> None:
    metrics.install()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "main.gae.test":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=b"CODEREPONSE=00018&COMMENTAIRE=not found")

    before = (count("main.gae.test", "network_error"), count("backup.gae.test", "00018"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        gae = GaeClient(
            http, CREDS, (MAIN, BACKUP), RedisNumQuestions(redis), clock=lambda: datetime.now(UTC)
        )
        result = await gae.inquire(
            leg=None, numappel=Numappel("0000000001"), numtrans=Numtrans("0000000001")
        )
    assert result.code == "00018"
    after = (count("main.gae.test", "network_error"), count("backup.gae.test", "00018"))
    assert after == (before[0] + 1, before[1] + 1)
    latency = REGISTRY.get_sample_value(
        "up2pay_gae_request_duration_seconds_count", {"type": "00017", "host": "backup.gae.test"}
    )
    assert latency is not None
    assert latency >= 1
