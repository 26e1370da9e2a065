"""The Redis topology fixtures (tests/support/redis_topologies.py) for these tests."""

from tests.support.redis_topologies import (
    redis_cluster,
    redis_sentinel,
    redis_standalone_with_replica,
)

__all__ = ["redis_cluster", "redis_sentinel", "redis_standalone_with_replica"]
