"""load.html, the backup host, simulated outages and GAE faults, the clock, the config and CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from saleor_up2pay.cli import build_parser
from saleor_up2pay.sandbox import SandboxConfig, parse_accounts
from saleor_up2pay.sandbox.config import DEFAULT_ACCOUNT
from saleor_up2pay.settings import Settings, SettingsError
from tests.sandbox.helpers import payment_fields
from tests.sandbox.test_gae import next_day, operate, paid_legs

STATUS_OK = '<div id="server_status" style="text-align:center;">OK</div>'


async def set_host(client: httpx.AsyncClient, host: str, status: str) -> None:
    response = await client.post("/sandbox/api/availability", json={"host": host, "status": status})
    assert response.status_code == 200


class TestLoadHtml:
    async def test_up(self, sandbox: httpx.AsyncClient) -> None:
        """load.html carries the exact server_status div the official plugins look for."""
        response = await sandbox.get("/load.html")
        assert response.status_code == 200
        assert STATUS_OK in response.text

    async def test_degraded_host(self, sandbox: httpx.AsyncClient) -> None:
        """Machine up, services down: load.html answers 200 without OK, the page is 503."""
        await set_host(sandbox, "main", "degraded")
        response = await sandbox.get("/load.html")
        assert response.status_code == 200
        assert STATUS_OK not in response.text
        assert (await sandbox.get("/php/", params=tuple(payment_fields()))).status_code == 503

    async def test_down_main_leaves_the_backup_up(self, sandbox: httpx.AsyncClient) -> None:
        """With the main host down, the backup host still serves load.html, the page and GAE."""
        await set_host(sandbox, "main", "down")
        assert (await sandbox.get("/load.html")).status_code == 503
        assert (await sandbox.post("/PPPS.php", content=b"")).status_code == 503
        assert STATUS_OK in (await sandbox.get("/backup/load.html")).text
        page = await sandbox.get("/backup/php/", params=tuple(payment_fields()))
        assert page.status_code == 200

    async def test_back_up(self, sandbox: httpx.AsyncClient) -> None:
        """Switching the host back up restores it."""
        await set_host(sandbox, "main", "down")
        await set_host(sandbox, "main", "up")
        assert STATUS_OK in (await sandbox.get("/load.html")).text

    async def test_api_payment_refused_while_down(self, sandbox: httpx.AsyncClient) -> None:
        """The test API honours the outage of the host it is asked to use."""
        await set_host(sandbox, "main", "down")
        response = await sandbox.post(
            "/sandbox/api/pay", json={"fields": payment_fields(), "outcome": "voucher"}
        )
        assert response.status_code == 503


class TestGaeFaults:
    async def test_backup_host_shares_the_transactions(self, sandbox: httpx.AsyncClient) -> None:
        """A payment made on the main host is known to the backup's PPPS.php."""
        [leg] = await paid_legs(sandbox)
        answer = await operate(sandbox, "00017", leg, path="/backup/PPPS.php")
        assert answer["STATUS"] == "Capturé"

    async def test_fault_before_execution(self, sandbox: httpx.AsyncClient) -> None:
        """A 00001 fault answers without doing anything nor using up the question number."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        fault = {"host": "main", "code": "00001", "count": 1}
        assert (await sandbox.post("/sandbox/api/gae-faults", json=fault)).status_code == 200
        failed = await operate(sandbox, "00002", leg, 1500, question=1234)
        assert failed["CODEREPONSE"] == "00001"
        assert (await operate(sandbox, "00017", leg))["STATUS"] == "Autorisé"
        retried = await operate(sandbox, "00002", leg, 1500, question=1234, path="/backup/PPPS.php")
        assert retried["CODEREPONSE"] == "00000"

    async def test_fault_after_execution(self, sandbox: httpx.AsyncClient) -> None:
        """An ``executed`` fault loses the answer of an operation that did happen."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        fault = {"host": "main", "code": "00097", "count": 1, "executed": True}
        await sandbox.post("/sandbox/api/gae-faults", json=fault)
        assert (await operate(sandbox, "00002", leg, 1500))["CODEREPONSE"] == "00097"
        status = await operate(sandbox, "00017", leg, path="/backup/PPPS.php")
        assert status["STATUS"] == "Capturé"

    async def test_execution_ledger_counts_what_was_done(self, sandbox: httpx.AsyncClient) -> None:
        """Executed operations are listed once each, lost answers included; refusals are not."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        fault = {"host": "main", "code": "00097", "count": 1, "executed": True}
        await sandbox.post("/sandbox/api/gae-faults", json=fault)
        await operate(sandbox, "00002", leg, 1500, question=77)  # executed, answer lost
        refused = await operate(sandbox, "00002", leg, 1500)  # a blind retry is refused
        assert refused["CODEREPONSE"] == "00002"
        await operate(sandbox, "00017", leg)  # an inquiry moves no money
        number = leg["transaction_number"]
        response = await sandbox.get(
            "/sandbox/api/executions", params={"transaction_number": number}
        )
        assert response.json()["executions"] == [
            {
                "operation": "capture",
                "site": leg["site"],
                "rang": leg["rang"],
                "transaction_number": number,
                "amount": 1500,
                "question": 77,
                "answer_lost": True,
            }
        ]
        await sandbox.post("/sandbox/api/reset")
        assert (await sandbox.get("/sandbox/api/executions")).json() == {"executions": []}

    async def test_faults_run_out(self, sandbox: httpx.AsyncClient) -> None:
        """After ``count`` faulty answers the host answers normally again."""
        [leg] = await paid_legs(sandbox)
        await sandbox.post("/sandbox/api/gae-faults", json={"code": "00003", "count": 2})
        codes = [(await operate(sandbox, "00017", leg))["CODEREPONSE"] for _ in range(3)]
        assert codes == ["00003", "00003", "00000"]

    async def test_bad_credentials_are_refused_before_any_fault(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """An unauthenticated request never consumes a fault."""
        [leg] = await paid_legs(sandbox)
        await sandbox.post("/sandbox/api/gae-faults", json={"code": "00003", "count": 1})
        assert (await operate(sandbox, "00017", leg, key="11" * 64))["CODEREPONSE"] == "00006"
        assert (await operate(sandbox, "00017", leg))["CODEREPONSE"] == "00003"


class TestAdmin:
    async def test_clock_moves_and_resets(self, sandbox: httpx.AsyncClient) -> None:
        """The clock API moves the sandbox date by days and back."""
        before = (await sandbox.get("/sandbox/api/clock")).json()
        await next_day(sandbox, 3)
        moved = (await sandbox.get("/sandbox/api/clock")).json()
        assert moved["offset_days"] == before["offset_days"] + 3
        assert moved["today"] > before["today"]
        reset = await sandbox.post("/sandbox/api/clock", json={"reset": True})
        assert reset.json() == before

    async def test_transactions_can_be_listed_by_reference(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """Tests and merchants can see the legs of one order."""
        await paid_legs(sandbox, cmd="LIST-1", split=100)
        await paid_legs(sandbox, cmd="LIST-2")
        listed = await sandbox.get("/sandbox/api/transactions", params={"reference": "LIST-1"})
        legs: list[dict[str, Any]] = listed.json()["transactions"]
        assert sorted(leg["card_type"] for leg in legs) == ["APETIZ", "LIMOCB"]

    async def test_reset_forgets_payments(self, sandbox: httpx.AsyncClient) -> None:
        """After a reset, GAE knows no transaction and a paid reference can be paid again."""
        [leg] = await paid_legs(sandbox, cmd="RESET-1")
        await sandbox.post("/sandbox/api/reset")
        assert (await operate(sandbox, "00017", leg))["CODEREPONSE"] == "00015"
        assert len(await paid_legs(sandbox, cmd="RESET-1")) == 1

    async def test_index_lists_the_endpoints(self, sandbox: httpx.AsyncClient) -> None:
        """The root page tells a merchant what the sandbox serves."""
        response = await sandbox.get("/")
        assert "/PPPS.php" in response.text


class TestConfig:
    def test_accounts_setting_is_parsed(self) -> None:
        """``site:rang:identifiant:key;...`` gives one account each."""
        spec = f"1234567:01:42:{'AB' * 64}; 7654321:123:9:{'cd' * 64};"
        accounts = parse_accounts(spec)
        assert [(a.site, a.rang, a.identifiant) for a in accounts] == [
            ("1234567", "01", "42"),
            ("7654321", "123", "9"),
        ]
        assert "AB" * 64 not in repr(accounts)

    @pytest.mark.parametrize(
        "spec",
        [
            "1234567:01:42",
            f"123:01:42:{'AB' * 64}",
            "1234567:01:42:nothex",
            f"1234567:1:42:{'A' * 128}",
        ],
    )
    def test_bad_accounts_setting_is_a_configuration_error(self, tmp_path: Path, spec: str) -> None:
        """A malformed SANDBOX_ACCOUNTS stops the sandbox with a readable line."""
        settings = Settings(_env_file=None, data_dir=tmp_path, sandbox_accounts=spec)
        with pytest.raises(SettingsError, match="SANDBOX_ACCOUNTS"):
            SandboxConfig.from_settings(settings)

    def test_default_account_is_always_there(self, tmp_path: Path) -> None:
        """The public test account is known even when others are configured."""
        spec = f"1234567:01:42:{'AB' * 64}"
        settings = Settings(_env_file=None, data_dir=tmp_path, sandbox_accounts=spec)
        config = SandboxConfig.from_settings(settings)
        assert DEFAULT_ACCOUNT in config.accounts
        assert len(config.accounts) == 2
        assert config.key_dir == tmp_path / "sandbox"

    async def test_extra_account_pays(self, tmp_path: Path) -> None:
        """A configured account can pay with its own key; the default key does not work for it."""
        from saleor_up2pay.sandbox import SandboxAccount, create_sandbox_app

        key = "AB" * 64
        config = SandboxConfig(
            data_dir=tmp_path, accounts=(SandboxAccount("1234567", "01", "42", key),)
        )
        app = create_sandbox_app(config)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                own = payment_fields(
                    PBX_SITE="1234567", PBX_RANG="001", PBX_IDENTIFIANT="42", key=key
                )
                assert (await client.get("/php/", params=tuple(own))).status_code == 200
                default = payment_fields()
                assert (await client.get("/php/", params=tuple(default))).status_code == 400


class TestCli:
    def test_sandbox_subcommand_is_registered(self) -> None:
        """``saleor-up2pay sandbox --port N`` parses to the sandbox runner."""
        args = build_parser().parse_args(["sandbox", "--port", "9999", "--host", "0.0.0.0"])
        assert (args.port, args.host) == (9999, "0.0.0.0")
        assert args.func.__module__ == "saleor_up2pay.sandbox.cli"
