"""What the bench puts into (and reads from) the app's Redis, through the app's own code.

- :func:`seed`: installs the app for one Saleor instance (``AuthStore``) and stores payment
  sessions with ``SessionRepository``, so every IPN and TRANSACTION_PROCESS_SESSION of the bench
  hits a real session;
- :func:`preload_legs`: N stored leg records with the app's real key layout. One template leg is
  written by ``LegRepository.create`` (the IPN's own code); the keys it created are read back and
  copied N times by a Lua loop on the server (5,000 per call), a placeholder in key names and
  values replaced by the copy's number. Sessions are not copied: they expire after a day in
  production, legs stay;
- :func:`backlog`: pending report jobs (the job queue's due set); :func:`drop_reports` removes
  one instance's pending reports (the intake rows' parked ones, before the end-to-end run).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from benchmarks.messages import APP_ID
from saleor_up2pay.jobs import JobQueue, scope_shard
from saleor_up2pay.redis_store import instance_id, instance_key
from saleor_up2pay.saleor.apl import AuthData, AuthStore
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.settings import Settings
from saleor_up2pay.transactions.legs import LegRecord, LegRepository, LegStatus
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from saleor_up2pay.up2pay.models import Leg

PLACEHOLDER = "QZQZQZQZQZQZ"
"""Stands for the copy's 12-digit number in the template's key names and values."""


def session_reference(prefix: str, index: int) -> str:
    return f"{prefix}{index:018d}"


def transaction_id(prefix: str, index: int) -> str:
    return f"bench-item-{prefix}-{index}"


async def seed(
    client: aioredis.Redis,
    settings: Settings,
    saleor_api_url: str,
    jwks: str,
    *,
    prefix: str,
    sessions: int,
) -> list[str]:
    """Install the app for ``saleor_api_url`` and store ``sessions`` sessions; their references."""
    box = SecretBox(settings.resolved_secret_key(), settings.secret_key_fallbacks)
    await AuthStore(client, box).set(AuthData(saleor_api_url, "bench-token", APP_ID, jwks))
    repo = SessionRepository(client)
    references = []
    for index in range(sessions):
        reference = session_reference(prefix, index)
        await repo.save(
            PaymentSession(
                reference=reference,
                saleor_api_url=saleor_api_url,
                transaction_id=transaction_id(prefix, index),
                source_type="Checkout",
                source_id=f"bench-checkout-{prefix}-{index}",
                channel="channel-eur",
                method="APETIZ",
                amount=Decimal("15.10"),
                currency="EUR",
                action_type="CHARGE",
                return_url="https://shop.example/checkout",
                config_id="default",
                environment="sandbox",
                idempotency_key=f"bench-{prefix}-{index}",
            )
        )
        references.append(reference)
    return references


# ARGV[1] = first copy number, ARGV[2] = copies, ARGV[3] = placeholder, ARGV[4] = JSON templates
_COPY = """
local first = tonumber(ARGV[1])
local templates = cjson.decode(ARGV[4])
for n = first, first + tonumber(ARGV[2]) - 1 do
  local s = string.format('%012d', n)
  for _, t in ipairs(templates) do
    local key = (string.gsub(t.key, ARGV[3], s))
    if t.type == 'string' then
      redis.call('SET', key, (string.gsub(t.value, ARGV[3], s)))
    elseif t.type == 'set' then
      for _, m in ipairs(t.value) do redis.call('SADD', key, (string.gsub(m, ARGV[3], s))) end
    elseif t.type == 'list' then
      for _, m in ipairs(t.value) do redis.call('RPUSH', key, (string.gsub(m, ARGV[3], s))) end
    elseif t.type == 'hash' then
      for i = 1, #t.value, 2 do
        redis.call('HSET', key, t.value[i], (string.gsub(t.value[i + 1], ARGV[3], s)))
      end
    end
    if t.ttl > 0 then redis.call('PEXPIRE', key, t.ttl) end
  end
end
return first + tonumber(ARGV[2])
"""


async def _dump(client: aioredis.Redis, key: str) -> dict[str, Any]:
    kind = await client.type(key)
    value: Any
    if kind == "string":
        value = await client.get(key)
    elif kind == "set":
        value = sorted(await client.smembers(key))
    elif kind == "list":
        value = await client.lrange(key, 0, -1)
    elif kind == "hash":
        value = [part for pair in (await client.hgetall(key)).items() for part in pair]
    else:
        msg = f"the template leg wrote a {kind} ({key}); the preload cannot copy it"
        raise RuntimeError(msg)
    return {"key": key, "type": kind, "value": value, "ttl": max(0, await client.pttl(key))}


async def preload_legs(client: aioredis.Redis, saleor_api_url: str, count: int) -> int:
    """Store ``count`` reported leg records (and their indexes) for ``saleor_api_url``."""
    if count <= 0:
        return 0
    pattern = instance_key(saleor_api_url, "*")
    before = {key async for key in client.scan_iter(match=pattern, count=1000)}
    template = LegRecord(
        saleor_api_url=saleor_api_url,
        reference=f"P{PLACEHOLDER}",
        leg=Leg.APETIZ,
        numtrans=f"9{PLACEHOLDER}",
        numappel="0014123450",
        authorization="XXXXXX",
        amount=Decimal("15.10"),
        status=LegStatus.ACCEPTED,
        transaction_id=f"bench-old-item-{PLACEHOLDER}",
        error_code="00000",
        message="Paiement accepté",
        card_type="APETIZ",
        captured_amount=Decimal("15.10"),
        reported=True,
    )
    if not await LegRepository(client).create(template):
        msg = "the template leg already exists"
        raise RuntimeError(msg)
    # Keys the running app wrote meanwhile (locks, jobs) do not carry the placeholder.
    after = {key async for key in client.scan_iter(match=pattern, count=1000)}
    written = {key for key in after - before if PLACEHOLDER in key}
    if not written:
        msg = "the template leg wrote no key under its instance"
        raise RuntimeError(msg)
    templates = [await _dump(client, key) for key in sorted(written)]
    await client.delete(*written)
    encoded = json.dumps(templates)
    done, chunk = 0, 5000
    while done < count:
        size = min(chunk, count - done)
        await client.eval(_COPY, 0, str(done), str(size), PLACEHOLDER, encoded)
        done += size
    return done


async def drop_reports(client: aioredis.Redis, saleor_api_url: str) -> int:
    """Remove the pending report jobs of one instance (ids ``ipn:<instance id>:...``)."""
    shard = scope_shard(instance_id(saleor_api_url))
    ids = [
        job_id
        async for job_id, _ in client.zscan_iter(
            shard.due, match=f"ipn:{instance_id(saleor_api_url)}:*"
        )
    ]
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        await client.zrem(shard.due, *chunk)
        await client.delete(*(shard.job(job_id) for job_id in chunk))
    return len(ids)


async def backlog(client: aioredis.Redis) -> int:
    """Report jobs waiting or running."""
    return await JobQueue(client).pending_count()
