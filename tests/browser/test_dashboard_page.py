"""The configuration page in headless Chromium, framed by a pretend Saleor Dashboard."""

from __future__ import annotations

import os
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from saleor_up2pay.configuration import ConfigurationRepository
from saleor_up2pay.sandbox import DEFAULT_ACCOUNT
from saleor_up2pay.secretbox import SecretBox
from tests.browser.conftest import Stack, run_async, seed_activity
from tests.conftest import PROJECT_ROOT
from tests.support.servers import serve

pytestmark = pytest.mark.browser

SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots" if os.environ.get("SAVE_SCREENSHOTS") else None
"""The README's screenshots are (re)written only by ``make screenshots`` (SAVE_SCREENSHOTS=1): a test
run never rewrites tracked files."""
TIMEOUT = 15_000


def open_dashboard(browser: Any, stack: Stack, query: str = "") -> tuple[Any, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    page.goto(stack.dashboard_url + "/" + query)
    frame = page.frame_locator("#app")
    return page, frame


def save_screenshot(page: Any, name: str) -> None:
    """Write ``docs/screenshots/<name>`` under ``make screenshots``; else only render it."""
    image = page.locator("#app").screenshot()
    assert image.startswith(b"\x89PNG")
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / name).write_bytes(image)


def stored_configurations(stack: Stack) -> list[Any]:
    import redis.asyncio as aioredis

    from saleor_up2pay.settings import Settings

    async def read() -> list[Any]:
        client = aioredis.Redis(unix_socket_path=stack.redis_socket, decode_responses=True)
        try:
            repo = ConfigurationRepository(
                client,
                SecretBox("browser-test-secret"),
                Settings(_env_file=None),
            )
            return await repo.list(stack.saleor.api_url)
        finally:
            await client.aclose()

    result: list[Any] = run_async(read())
    return result


def fit_iframe(page: Any, frame: Any) -> None:
    """Size the iframe to its content, so a screenshot shows the whole page."""
    height = frame.locator("body").evaluate("b => Math.ceil(b.getBoundingClientRect().height) + 48")
    page.evaluate(f"document.getElementById('app').style.height = '{height}px'")
    page.set_viewport_size({"width": 1280, "height": max(1000, height)})


class TestMerchantScenario:
    def test_create_map_check_reload(self, browser: Any, stack: Stack) -> None:
        """A merchant creates a configuration, maps a channel, checks it, reloads: key masked."""
        seed_activity(stack)
        page, frame = open_dashboard(browser, stack)

        # Handshake done: the page asked for it (notifyReady) and shows the default.
        frame.get_by_role("heading", name="Configurations").wait_for()
        frame.locator('[data-config-id="default"]').wait_for()
        received = page.evaluate("window.received.map(m => m.type)")
        assert "notifyReady" in received

        # A bad SITE is reported next to the field, before anything is saved.
        frame.get_by_role("button", name="Add configuration").click()
        frame.get_by_label("Name").fill("Boutique sandbox")
        frame.get_by_label("Sandbox").check()
        frame.get_by_label("SITE").fill("19998")
        frame.get_by_label("RANG").fill(DEFAULT_ACCOUNT.rang)
        frame.get_by_label("IDENTIFIANT").fill(DEFAULT_ACCOUNT.identifiant)
        frame.get_by_label("HMAC key").fill(DEFAULT_ACCOUNT.hmac_key)
        frame.get_by_label("Chèque-Vacances Connect").uncheck()
        frame.get_by_role("button", name="Save").click()
        frame.get_by_text("SITE is exactly 7 digits").wait_for()
        assert stored_configurations(stack) == []

        # Check the credentials from the form, then save.
        frame.get_by_label("SITE").fill(DEFAULT_ACCOUNT.site)
        frame.locator("#check-form").click()
        frame.get_by_text("Accepted: Up2pay (Sandbox)").wait_for()
        frame.get_by_role("button", name="Save").click()
        card = frame.locator("article.config-card", has_text="Boutique sandbox")
        card.wait_for()
        hint = DEFAULT_ACCOUNT.hmac_key[-4:]
        assert card.locator('[data-test="key-hint"]').inner_text().endswith(hint)
        assert "Pluxee" in card.inner_text()
        assert "Chèque-Vacances Connect" not in card.inner_text()
        (saved,) = stored_configurations(stack)
        assert saved.hmac_key.get_secret_value() == DEFAULT_ACCOUNT.hmac_key
        assert saved.methods == ["APETIZ", "SODEXO", "UPCHEQUDEJ"]

        # No meal-voucher eligibility yet: the merchant is warned (liable); setting it, with
        # the rule set and the storefront origins, removes the warning.
        assert card.locator('[data-test="meal-unrestricted"]').is_visible()
        card.get_by_role("button", name="Edit").click()
        frame.get_by_label("Meal-voucher eligible product types").fill("food, fresh-food")
        frame.get_by_label("Storefront origins").fill("https://shop.example")
        frame.get_by_label("France 2027 (announced, not confirmed)").check()
        frame.get_by_role("button", name="Save").click()
        card.locator('[data-test="meal-unrestricted"]').wait_for(state="detached")
        (saved,) = stored_configurations(stack)
        assert saved.meal_eligible_product_types == ["food", "fresh-food"]
        assert saved.meal_rule_set == "fr-2027"
        assert saved.storefront_origins == ["https://shop.example"]

        # Map the euro channel; the dollar channel is not eligible.
        frame.locator('select[data-channel="boutique-fr"]').select_option(
            label="Boutique sandbox · Sandbox"
        )
        frame.get_by_text("Used by: boutique-fr").wait_for()
        us_row = frame.locator('tr[data-channel-row="store-us"]')
        assert "Not eligible" in us_row.inner_text()
        assert us_row.locator("select").is_disabled()

        # Check the saved configuration's credentials against the sandbox.
        card.locator('[data-action="check"]').click()
        card.get_by_text("Accepted: Up2pay (Sandbox)").wait_for()

        # A refreshed token is used for the next calls.
        fresh = page.evaluate("window.refreshToken()")
        with page.expect_request("**/api/graphql") as request_info:
            frame.get_by_role("button", name="Refresh").click()
        assert request_info.value.headers["authorization-bearer"] == fresh
        frame.get_by_text("UP2-8F3K2Q").first.wait_for()

        # Screenshots: light/English with the cards, then dark/French with the editor open.
        frame.locator("#toast").wait_for(state="hidden")
        fit_iframe(page, frame)
        save_screenshot(page, "dashboard-light.png")
        card.get_by_role("button", name="Edit").click()
        frame.get_by_text("The stored key ends with " + hint).wait_for()
        page.evaluate("window.setTheme('dark')")
        page.evaluate("window.setLocale('fr')")
        frame.get_by_role("heading", name="Canaux").wait_for()
        assert frame.locator("html").get_attribute("data-theme") == "dark"
        frame.locator("#config-form").get_by_role(
            "button", name="Vérifier les identifiants"
        ).click()
        frame.locator("#config-form").get_by_text("Accepté : Up2pay (Bac à sable)").wait_for()
        fit_iframe(page, frame)
        save_screenshot(page, "dashboard-dark.png")

        # Reload: a new handshake, the key is still only shown masked.
        page.reload()
        frame = page.frame_locator("#app")
        card = frame.locator("article.config-card", has_text="Boutique sandbox")
        card.wait_for()
        assert card.locator('[data-test="key-hint"]').inner_text() == "HMAC key ••••" + hint
        assert DEFAULT_ACCOUNT.hmac_key not in frame.locator("body").inner_html()
        card.get_by_role("button", name="Edit").click()
        assert frame.get_by_label("HMAC key").input_value() == ""
        page.close()

    def test_french_dashboard_gets_a_french_page(self, browser: Any, stack: Stack) -> None:
        """With the Dashboard in French, the page speaks French."""
        page, frame = open_dashboard(browser, stack, "?locale=fr&theme=dark")
        frame.get_by_role("heading", name="Configurations").wait_for()
        frame.get_by_role("button", name="Ajouter une configuration").wait_for()
        assert frame.locator("html").get_attribute("lang") == "fr"
        assert frame.locator("html").get_attribute("data-theme") == "dark"
        page.close()


class TestRefusals:
    def test_missing_permission_is_shown(self, browser: Any, stack: Stack) -> None:
        """A staff user without HANDLE_PAYMENTS sees why, and no configuration is shown."""
        page, frame = open_dashboard(browser, stack, "?perms=MANAGE_APPS")
        frame.get_by_text("needs the “Handle payments” permission").wait_for()
        assert frame.locator("#main").is_hidden()
        page.close()

    def test_messages_not_from_the_dashboard_are_ignored(self, browser: Any, stack: Stack) -> None:
        """A message that does not come from the parent Dashboard window changes nothing."""
        page, frame = open_dashboard(browser, stack)
        frame.get_by_role("heading", name="Configurations").wait_for()
        app_frame = next(f for f in page.frames if f.url.startswith(stack.app_url))
        app_frame.evaluate(
            "window.postMessage({type: 'theme', payload: {theme: 'dark'}}, '*');"
            "window.postMessage({type: 'localeChanged', payload: {locale: 'fr'}}, '*');"
        )
        page.wait_for_timeout(200)
        assert frame.locator("html").get_attribute("data-theme") == "light"
        assert frame.locator("html").get_attribute("lang") == "en"
        page.evaluate("window.setTheme('dark')")  # the real parent is still obeyed
        frame.locator("html[data-theme=dark]").wait_for(state="attached")
        page.close()

    def test_outside_the_dashboard_says_so(self, browser: Any, stack: Stack) -> None:
        """Opened directly (not framed), the page says it must be opened from the Dashboard."""
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT)
        calls: list[str] = []
        page.on("request", lambda r: calls.append(r.url) if "/api/graphql" in r.url else None)
        page.goto(stack.iframe_src())
        page.get_by_role("heading", name="Open this page from the Saleor Dashboard").wait_for()
        assert page.locator("#main").is_hidden()
        assert calls == []
        page.goto(stack.app_url + "/app?locale=fr")
        page.get_by_role("heading", name="Ouvrez cette page depuis le Dashboard Saleor").wait_for()
        page.close()

    def test_framing_by_another_origin_is_blocked(self, browser: Any, stack: Stack) -> None:
        """A site that is not the Dashboard cannot frame the page (CSP frame-ancestors)."""
        html = f'<!doctype html><iframe id="x" src="{stack.iframe_src()}"></iframe>'

        async def other_site(_: Request) -> Response:
            return HTMLResponse(html)

        page = browser.new_page()
        page.set_default_timeout(TIMEOUT)
        with serve(Starlette(routes=[Route("/", other_site)])) as other_url:
            with page.expect_response(lambda r: r.url.startswith(stack.app_url + "/app?")) as info:
                page.goto(other_url + "/")
            assert info.value.status == 200  # served, but the browser refuses to show it
            page.wait_for_timeout(300)
            frame = page.frame_locator("#x")
            assert frame.get_by_role("heading", name="Configurations").count() == 0
            assert frame.get_by_text("Up2pay").count() == 0
        page.close()


def seed_problems(stack: Stack) -> None:
    """Open problems as the payment jobs raise them (no Saleor call: the board alone)."""
    import redis.asyncio as aioredis

    from saleor_up2pay.problems import ProblemBoard
    from saleor_up2pay.saleor.problems import Problem
    from saleor_up2pay.transactions.unknown_ipn_problems import UNATTACHED_COUNT_KEY

    async def write() -> None:
        client = aioredis.Redis(unix_socket_path=stack.redis_socket, decode_responses=True)

        async def no_client(_: str) -> None:
            return None

        try:
            board = ProblemBoard(client, no_client)
            unreported = Problem(
                key="leg-unreported:1234567890",
                message="Up2pay SODEXO leg S=1234567890 could not be reported to Saleor.",
            )
            await board.raise_(stack.saleor.api_url, unreported)
            await board.raise_(stack.saleor.api_url, unreported)
            await board.raise_(
                stack.saleor.api_url,
                Problem(
                    key="leg-missing:UP2-8F3K2Q",
                    message="The voucher paid 20.00 of 44.80 EUR and no card complement was heard of.",
                    critical_threshold=1,
                ),
            )
            await client.set(UNATTACHED_COUNT_KEY, 3)
        finally:
            await client.aclose()

    run_async(write())


class TestProblems:
    def test_open_problems_are_listed_in_both_languages(self, browser: Any, stack: Stack) -> None:
        """Every open problem: key, message, count, first/last seen, critical; then in French."""
        seed_problems(stack)
        page, frame = open_dashboard(browser, stack)
        frame.get_by_role("heading", name="Problems").wait_for()
        row = frame.locator('tr[data-key="leg-unreported:1234567890"]')
        row.wait_for()
        assert "could not be reported to Saleor" in row.inner_text()
        assert row.locator("td.num").inner_text() == "2"
        missing = frame.locator('tr[data-key="leg-missing:UP2-8F3K2Q"]')
        assert "Critical" in missing.inner_text()
        assert "3 Up2pay notification(s)" in frame.locator("#unattached-ipns").inner_text()
        page.close()

        page, frame = open_dashboard(browser, stack, "?locale=fr")
        frame.get_by_role("heading", name="Problèmes").wait_for()
        assert "Critique" in frame.locator('tr[data-key="leg-missing:UP2-8F3K2Q"]').inner_text()
        page.close()

    def test_no_problem_says_so(self, browser: Any, stack: Stack) -> None:
        """With nothing open, the section says every payment is in Saleor."""
        page, frame = open_dashboard(browser, stack)
        frame.get_by_text("No problem: every payment").wait_for()
        assert frame.locator("#unattached-ipns").count() == 0
        page.close()
