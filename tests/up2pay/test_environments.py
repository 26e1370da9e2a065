"""Platform URLs, overrides, and the load.html availability check with backup host."""

from __future__ import annotations

import httpx
import pytest

from saleor_up2pay.up2pay import (
    EnvironmentName,
    HostedPageLocator,
    PlatformUnavailable,
    endpoints_for,
    load_url,
)
from saleor_up2pay.up2pay.environments import is_available_page

UP = '<html><body><div id="server_status" style="text-align:center;">OK</div></body></html>'
DOWN = '<html><body><div id="server_status" style="text-align:center;">KO</div></body></html>'


class TestEndpoints:
    def test_test_environment(self) -> None:
        """Test uses the recette hosted page and the pre-production GAE, without checks."""
        e = endpoints_for("test")
        assert e.hosted_page_urls == ("https://recette-tpeweb.e-transactions.fr/php/",)
        assert e.gae_urls == ("https://preprod-ppps.e-transactions.fr/PPPS.php",)
        assert not e.check_availability

    def test_live_environment(self) -> None:
        """Live has main and backup hosts for both services and checks availability."""
        e = endpoints_for(EnvironmentName.LIVE)
        assert e.hosted_page_urls == (
            "https://tpeweb.e-transactions.fr/php/",
            "https://tpeweb1.e-transactions.fr/php/",
        )
        assert e.gae_urls == (
            "https://ppps.e-transactions.fr/PPPS.php",
            "https://ppps1.e-transactions.fr/PPPS.php",
        )
        assert e.check_availability

    def test_sandbox_environment(self) -> None:
        """The sandbox serves /php/ and /PPPS.php under the given base URL."""
        e = endpoints_for("sandbox", sandbox_url="http://localhost:8090/")
        assert e.hosted_page_urls == ("http://localhost:8090/php/",)
        assert e.gae_urls == ("http://localhost:8090/PPPS.php",)

    def test_overrides_replace_defaults(self) -> None:
        """Override lists replace the defaults, first = main."""
        e = endpoints_for(
            "live", hosted_page_urls=["https://a/php/", "https://b/php/"], gae_urls=["https://c/P"]
        )
        assert e.hosted_page_urls == ("https://a/php/", "https://b/php/")
        assert e.gae_urls == ("https://c/P",)

    def test_bad_override_is_refused(self) -> None:
        """A relative override URL is refused."""
        with pytest.raises(ValueError, match="absolute"):
            endpoints_for("test", gae_urls=["ppps.example/PPPS.php"])

    def test_unknown_environment(self) -> None:
        """An unknown environment name is refused."""
        with pytest.raises(ValueError):
            endpoints_for("prod")

    @pytest.mark.parametrize(
        ("page", "load"),
        [
            ("https://tpeweb.e-transactions.fr/php/", "https://tpeweb.e-transactions.fr/load.html"),
            ("http://localhost:8090/php/", "http://localhost:8090/load.html"),
            ("http://h/up2pay/php/", "http://h/up2pay/load.html"),
        ],
    )
    def test_load_url(self, page: str, load: str) -> None:
        """load.html lives at the root of the hosted page's host (or the sandbox's prefix)."""
        assert load_url(page) == load


class TestAvailabilityPage:
    @pytest.mark.parametrize(
        ("body", "ok"),
        [
            (UP, True),
            (DOWN, False),
            ("<html>OK</html>", False),
            ('<div id="server_status">OK</div>', True),
        ],
    )
    def test_status_element(self, body: str, ok: bool) -> None:
        """Only an element #server_status whose text is OK means available."""
        assert is_available_page(body) is ok


class TestHostedPageLocator:
    @staticmethod
    def client(bodies: dict[str, tuple[int, str]], calls: list[str]) -> httpx.AsyncClient:
        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(str(request.url))
            if request.url.host not in bodies:
                raise httpx.ConnectError("refused", request=request)
            status, body = bodies[request.url.host]
            return httpx.Response(status, text=body)

        return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async def test_main_when_up(self) -> None:
        """When the main host is up its URL is handed out."""
        calls: list[str] = []
        async with self.client({"tpeweb.e-transactions.fr": (200, UP)}, calls) as http:
            url = await HostedPageLocator(http).action_url(endpoints_for("live"))
        assert url == "https://tpeweb.e-transactions.fr/php/"
        assert calls == ["https://tpeweb.e-transactions.fr/load.html"]

    @pytest.mark.parametrize("main", [(200, DOWN), (503, "maintenance"), None])
    async def test_backup_when_main_is_down(self, main) -> None:
        """A main host that says KO, errors or does not answer gives the backup URL."""
        bodies = {"tpeweb1.e-transactions.fr": (200, UP)}
        if main:
            bodies["tpeweb.e-transactions.fr"] = main
        async with self.client(bodies, []) as http:
            url = await HostedPageLocator(http).action_url(endpoints_for("live"))
        assert url == "https://tpeweb1.e-transactions.fr/php/"

    async def test_none_up_raises(self) -> None:
        """When no host is up, PlatformUnavailable says so."""
        async with self.client({}, []) as http:
            with pytest.raises(PlatformUnavailable):
                await HostedPageLocator(http).action_url(endpoints_for("live"))

    async def test_results_are_cached_for_a_while(self) -> None:
        """Checks are cached for cache_seconds, then done again."""
        now = [0.0]
        calls: list[str] = []
        async with self.client({"tpeweb.e-transactions.fr": (200, UP)}, calls) as http:
            locator = HostedPageLocator(http, cache_seconds=30, clock=lambda: now[0])
            for _ in range(5):
                await locator.action_url(endpoints_for("live"))
            assert len(calls) == 1
            now[0] = 31.0
            await locator.action_url(endpoints_for("live"))
            assert len(calls) == 2

    async def test_no_check_outside_live(self) -> None:
        """Test and sandbox environments hand out their URL without any request."""
        calls: list[str] = []
        async with self.client({}, calls) as http:
            locator = HostedPageLocator(http)
            assert await locator.action_url(endpoints_for("test")) == (
                "https://recette-tpeweb.e-transactions.fr/php/"
            )
        assert calls == []
