"""The Sentinel and Cluster clients: TLS forms, and no password in what a failure says."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import RedisClusterException, RedisError

from saleor_up2pay.redis_store import close_client, new_client
from saleor_up2pay.settings import parse_redis_url
from tests.support.servers import free_port

PASSWORD = "hunter2-not-in-logs"


def test_tls_forms_of_sentinel_and_cluster_are_read() -> None:
    sentinel = parse_redis_url(f"rediss+sentinel://:{PASSWORD}@s1,s2:26380/up2pay")
    assert (sentinel.mode, sentinel.ssl, sentinel.password) == ("sentinel", True, PASSWORD)
    cluster = parse_redis_url(f"rediss+cluster://:{PASSWORD}@n1:7000")
    assert (cluster.mode, cluster.ssl, cluster.password) == ("cluster", True, PASSWORD)


@pytest.mark.parametrize("scheme", ["redis+sentinel", "redis+cluster"])
async def test_an_unreachable_group_fails_without_showing_its_password(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{scheme}://:{PASSWORD}@127.0.0.1:{free_port()}"
    if scheme == "redis+sentinel":
        url += "/up2pay"
    caplog.set_level(logging.DEBUG)
    client = new_client(url)
    try:
        assert PASSWORD not in repr(client)
        with pytest.raises((RedisError, RedisClusterException)) as info:
            await client.set("up2pay:test", "1")
        assert PASSWORD not in f"{info.value!s} {info.value!r}"
    finally:
        await close_client(client)
    assert PASSWORD not in caplog.text
