"""``saleor-up2pay rotate-secrets``: re-encrypt stored secrets with the current SECRET_KEY.

Key rotation: set the new key in SECRET_KEY and the previous one in SECRET_KEY_FALLBACKS, restart
the app (everything still decrypts), run this command once, then remove the fallback. It rewrites
every stored Up2pay HMAC key and every Saleor app token, each in its own atomic write.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from saleor_up2pay.configuration.repository import ConfigurationRepository
from saleor_up2pay.redis_store import open_redis
from saleor_up2pay.saleor.apl import AuthStore
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.settings import Settings, load_settings

__all__ = ["register", "rotate_secrets"]


def register(subparsers: Any) -> None:
    """Add ``rotate-secrets`` to the ``saleor-up2pay`` parser's subcommands."""
    command = subparsers.add_parser(
        "rotate-secrets",
        help="re-encrypt stored HMAC keys and app tokens with the current SECRET_KEY",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(func=_run)


def _run(_: argparse.Namespace) -> int:
    keys, tokens = asyncio.run(rotate_secrets(load_settings()))
    print(f"re-encrypted {keys} HMAC key(s) and {tokens} app token(s) with the current SECRET_KEY")
    return 0


async def rotate_secrets(settings: Settings) -> tuple[int, int]:
    """Re-encrypt everything; returns (HMAC keys, app tokens) rewritten."""
    handle = open_redis(settings)
    try:
        box = SecretBox(settings.resolved_secret_key(), settings.secret_key_fallbacks)
        keys = await ConfigurationRepository(handle.client, box, settings).rotate_all_secrets()
        store = AuthStore(handle.client, box)
        installations = await store.all()
        for auth in installations:
            await store.set(auth)  # decrypted with a fallback, written with SECRET_KEY
        return keys, len(installations)
    finally:
        await handle.close()
