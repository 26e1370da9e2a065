"""APP_DELETED: the app was uninstalled from a Saleor instance; forget everything about it.

Only that instance's data goes: every key under its ``instance_key`` prefix (auth data, channel
settings, sessions, legs, activity...), its entry in the installed-instances index, and the few
global keys that name it:

- ``up2pay:ref:<reference>`` (reference → API URL, for IPNs), for each of its sessions, when it
  still points at this instance;
- its pending and dead jobs (IPN reports, follow-up events, deferred refunds): every job id of
  an instance carries its instance id (``<kind>:<instance id>:...``), which puts the job in the
  instance's queue shard, under its hash tag (:meth:`~saleor_up2pay.jobs.JobQueue.drop_scope`);
  the shard also leaves the list of shards workers claim from.

The delivery was verified, including ``recipient.id``, so a stale installation cannot wipe a
newer one. Global keys that hold no instance data stay: ``PBX_CMD`` reservations (a marker that
keeps a reference from being reused on the merchant's Up2pay account), GAE ``NUMQUESTION``
counters, and IPNs kept for investigation that matched no session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import structlog

from saleor_up2pay.redis_store import Redis, instance_id, instance_key, purge_instance
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
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


@dataclass(frozen=True)
class InstanceForgotten:
    """What the uninstall removed; Saleor only needs a 2xx."""

    keys_deleted: int
    references_deleted: int
    jobs_dropped: int

    def dump(self) -> dict[str, Any]:
        return {"success": True}


async def handle(services: Services, ctx: WebhookContext) -> InstanceForgotten:
    """Webhook entry point: purge the instance's data."""
    redis, url = services.redis, ctx.saleor_api_url
    references = await _session_references(redis, url)
    # The instance's jobs are under its hash tag: dropped first, so that they are counted.
    jobs_dropped = await services.job_queue.drop_scope(instance_id(url))
    deleted = await purge_instance(redis, url)
    await services.auth_store.delete(url)  # also drops this process's cached installation
    services.configurations.forget(url)
    references_deleted = await forget_references(redis, url, references)
    log.info(
        "saleor.app_deleted",
        saleor_api_url=url,
        keys_deleted=deleted,
        references_deleted=references_deleted,
        jobs_dropped=jobs_dropped,
    )
    return InstanceForgotten(deleted, references_deleted, jobs_dropped)
