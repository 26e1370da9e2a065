"""Up2pay platforms (sandbox, test/recette, live), their URLs, and the ``load.html`` check.

Protocol §1: the hosted page is posted to ``/php/`` on ``tpeweb`` (main) or ``tpeweb1`` (backup) in
production and ``recette-tpeweb`` in test; GAE is ``PPPS.php`` on ``ppps``/``ppps1`` or
``preprod-ppps``. Before handing out a live hosted-page URL we check ``load.html`` (protocol §1.3)
and fall back to the backup host when the main one is down.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog

from saleor_up2pay.up2pay.errors import PlatformUnavailable

__all__ = [
    "Endpoints",
    "EnvironmentName",
    "HostedPageLocator",
    "endpoints_for",
    "is_available_page",
    "load_url",
]

log = structlog.get_logger(__name__)


class EnvironmentName(StrEnum):
    """Which Up2pay platform to talk to."""

    SANDBOX = "sandbox"
    """Our own emulator (``saleor-up2pay sandbox``), at a base URL given by the caller."""
    TEST = "test"
    """Up2pay recette (pre-production): no real money."""
    LIVE = "live"
    """Up2pay production, with a backup host."""


_TEST_HOSTED = ("https://recette-tpeweb.e-transactions.fr/php/",)
_TEST_GAE = ("https://preprod-ppps.e-transactions.fr/PPPS.php",)
_LIVE_HOSTED = (
    "https://tpeweb.e-transactions.fr/php/",
    "https://tpeweb1.e-transactions.fr/php/",
)
_LIVE_GAE = (
    "https://ppps.e-transactions.fr/PPPS.php",
    "https://ppps1.e-transactions.fr/PPPS.php",
)


@dataclass(frozen=True)
class Endpoints:
    """URLs of one platform: the first of each list is the main host, the next ones are backups."""

    name: EnvironmentName
    hosted_page_urls: tuple[str, ...]
    gae_urls: tuple[str, ...]
    check_availability: bool
    """Whether :class:`HostedPageLocator` checks ``load.html`` before handing out a URL."""

    def __post_init__(self) -> None:
        if not self.hosted_page_urls or not self.gae_urls:
            msg = "an Up2pay environment needs at least one hosted page URL and one GAE URL"
            raise ValueError(msg)
        for url in (*self.hosted_page_urls, *self.gae_urls):
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                msg = f"Up2pay URL {url!r} must be an absolute http(s) URL"
                raise ValueError(msg)


def endpoints_for(
    name: EnvironmentName | str,
    *,
    sandbox_url: str = "http://localhost:8090",
    hosted_page_urls: Sequence[str] = (),
    gae_urls: Sequence[str] = (),
) -> Endpoints:
    """The URLs of a platform; non-empty overrides replace the defaults (first = main).

    The sandbox serves the hosted page at ``<sandbox_url>/php/``, GAE at ``<sandbox_url>/PPPS.php``
    and ``<sandbox_url>/load.html``.
    """
    env = EnvironmentName(name)
    if env is EnvironmentName.SANDBOX:
        base = sandbox_url.rstrip("/")
        hosted: tuple[str, ...] = (f"{base}/php/",)
        gae: tuple[str, ...] = (f"{base}/PPPS.php",)
    elif env is EnvironmentName.TEST:
        hosted, gae = _TEST_HOSTED, _TEST_GAE
    else:
        hosted, gae = _LIVE_HOSTED, _LIVE_GAE
    return Endpoints(
        name=env,
        hosted_page_urls=tuple(hosted_page_urls) or hosted,
        gae_urls=tuple(gae_urls) or gae,
        check_availability=env is EnvironmentName.LIVE,
    )


def load_url(hosted_page_url: str) -> str:
    """The availability page of the host serving ``hosted_page_url``.

    ``https://tpeweb.e-transactions.fr/php/`` → ``https://tpeweb.e-transactions.fr/load.html``;
    a sandbox mounted under a path prefix keeps it (``http://h/up2pay/php/`` → ``http://h/up2pay/load.html``).
    """
    parts = urlsplit(hosted_page_url)
    path = parts.path
    prefix = path[: -len("/php/")] if path.endswith("/php/") else ""
    return urlunsplit((parts.scheme, parts.netloc, f"{prefix}/load.html", "", ""))


_STATUS_RE = re.compile(
    r"""<[a-z0-9]+\b[^>]*\bid\s*=\s*["']?server_status["']?[^>]*>\s*([^<]*?)\s*<""",
    re.IGNORECASE,
)


def is_available_page(body: str) -> bool:
    """Whether a ``load.html`` body says the services are up.

    The CA kit requires the text of the element ``#server_status`` to be ``OK``; a 200 without it
    means "the machine is up but the services are not" (protocol §1.3).
    """
    match = _STATUS_RE.search(body)
    return match is not None and match.group(1) == "OK"


class HostedPageLocator:
    """Hands out the hosted-page URL to post a form to, checking availability in live.

    Results of ``load.html`` checks are cached per URL for ``cache_seconds`` so a burst of
    checkouts costs one check; concurrent callers share one in-flight check.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._clock = clock
        self._cache: dict[str, tuple[bool, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def action_url(self, endpoints: Endpoints) -> str:
        """The main hosted-page URL, or the first backup that is up (live).

        Raises :class:`PlatformUnavailable` when availability is checked and no host is up.
        """
        urls = endpoints.hosted_page_urls
        if not endpoints.check_availability:
            return urls[0]
        for url in urls:
            if await self.is_available(url):
                if url != urls[0]:
                    log.warning("up2pay.hosted_page.using_backup", url=url, main=urls[0])
                return url
        log.error("up2pay.hosted_page.unavailable", urls=list(urls))
        msg = "the Up2pay payment pages are unavailable (main and backup hosts)"
        raise PlatformUnavailable(msg)

    async def is_available(self, hosted_page_url: str) -> bool:
        """Whether the host of ``hosted_page_url`` reports itself up (cached)."""
        cached = self._fresh(hosted_page_url)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(hosted_page_url, asyncio.Lock())
        async with lock:
            cached = self._fresh(hosted_page_url)
            if cached is not None:
                return cached
            ok = await self._check(load_url(hosted_page_url))
            self._cache[hosted_page_url] = (ok, self._clock())
            return ok

    def _fresh(self, url: str) -> bool | None:
        entry = self._cache.get(url)
        if entry is None or self._clock() - entry[1] >= self._cache_seconds:
            return None
        return entry[0]

    async def _check(self, url: str) -> bool:
        try:
            response = await self._http.get(url, timeout=self._timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            log.warning("up2pay.load_check.failed", url=url, error=type(exc).__name__)
            return False
        ok = response.status_code == 200 and is_available_page(response.text)
        if not ok:
            log.warning("up2pay.load_check.down", url=url, status=response.status_code)
        return ok
