"""APP_DELETED: the app was uninstalled from a Saleor instance; forget everything about it.

Only that instance's data goes: every key under its ``instance_key`` prefix (auth data, channel
settings, sessions, legs, activity...), its entry in the installed-instances index, and the few
global keys that name it:

- ``up2pay:ref:<reference>`` (reference → API URL, for IPNs), for each of its sessions, when it
  still points at this instance;
- its pending and dead jobs (IPN reports, follow-up events, deferred refunds), found by the
  instance id every job id of an instance carries (``<kind>:<instance id>:...``).

The delivery was verified, including ``recipient.id``, so a stale installation cannot wipe a
newer one. Global keys that hold no instance data stay: ``PBX_CMD`` reservations (a marker that
keeps a reference from being reused on the merchant's Up2pay account), GAE ``NUMQUESTION``
counters, and IPNs kept for investigation that matched no session.
"""

from __future__ import annotations

from typing import Any, cast

import structlog

from saleor_up2pay.redis_store import Redis, instance_id, instance_key, purge_instance
from saleor_up2pay.saleor.apl import auth_store
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.transactions.jobs import DEAD_KEY, DUE_KEY, JOB_KEY_PREFIX
from saleor_up2pay.transactions.sessions import reference_index_key

log = structlog.get_logger(__name__)

# KEYS[1] = reference index; ARGV[1] = the API URL it must still name
_DELETE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def _session_references(redis: Redis, saleor_api_url: str) -> list[str]:
    prefix = instance_key(saleor_api_url, "session", "")
    return [key[len(prefix) :] async for key in redis.scan_iter(match=prefix + "*", count=500)]


async def forget_references(redis: Redis, saleor_api_url: str, references: list[str]) -> int:
    """Delete the global reference index entries that still point at this instance."""
    deleted = 0
    for reference in references:
        key = reference_index_key(reference)
        deleted += int(cast("int", await redis.eval(_DELETE_IF_OURS, 1, key, saleor_api_url)))
    return deleted


async def drop_jobs(redis: Redis, saleor_api_url: str) -> int:
    """Delete the instance's pending and dead jobs; returns how many."""
    pattern = f"{JOB_KEY_PREFIX}*:{instance_id(saleor_api_url)}:*"
    dropped = 0
    async for key in redis.scan_iter(match=pattern, count=500):
        job_id = key[len(JOB_KEY_PREFIX) :]
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zrem(DUE_KEY, job_id)
            pipe.lrem(DEAD_KEY, 0, job_id)
            deleted, *_ = await pipe.execute()
        dropped += int(deleted)
    return dropped


async def handle(ctx: WebhookContext) -> dict[str, Any]:
    """Purge the instance's data; Saleor only needs a 2xx."""
    redis, url = ctx.services.redis, ctx.saleor_api_url
    references = await _session_references(redis, url)
    deleted = await purge_instance(redis, url)
    await auth_store(ctx.services).delete(url)
    references_deleted = await forget_references(redis, url, references)
    jobs_dropped = await drop_jobs(redis, url)
    log.info(
        "saleor.app_deleted",
        saleor_api_url=url,
        keys_deleted=deleted,
        references_deleted=references_deleted,
        jobs_dropped=jobs_dropped,
    )
    return {"success": True}
