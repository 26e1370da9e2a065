"""``saleor-up2pay ipn verify``: fields, verdict and exit status 0/1/2."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from saleor_up2pay.cli import main
from tests.up2pay.samples import SAMPLES, fake_up2pay_key, public_pem, signed_query

APETIZ = "M=1500&R=foX8PuNwrNc8&T=2310165&C=APETIZ&E=00000&P=LIMONETIK&S=722487980"


@pytest.fixture(autouse=True)
def _no_env_file(monkeypatch, tmp_path: Path) -> None:
    """Run in an empty directory so no .env leaks in; no extra keys by default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UP2PAY_PUBLIC_KEYS", raising=False)


class TestIpnVerify:
    @pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
    def test_public_samples(self, sample, capsys) -> None:
        """Samples that verify exit 0 and say valid; the others exit 1 and say INVALID."""
        code = main(["ipn", "verify", sample.raw, "--signature-param", sample.signature_param])
        out = capsys.readouterr().out
        assert code == (0 if sample.verifies else 1)
        assert ("signature: valid" in out) is sample.verifies
        assert ("signature: INVALID" in out) is not sample.verifies

    def test_prints_fields_and_interpretation(self, capsys) -> None:
        """Fields are listed and, with --retour, read as an outcome."""
        s4 = next(s for s in SAMPLES if s.id == "S4")
        code = main(["ipn", "verify", s4.raw, "--retour", "Mt:M;Id:R;Ref:S;Erreur:E;sign:K"])
        out = capsys.readouterr().out
        assert code == 0
        assert "Mt     = 100" in out
        assert "Erreur = 00114" in out
        assert "outcome: refused (code 00114)" in out
        assert "Invalid card number" in out

    def test_whole_url_is_accepted(self, capsys) -> None:
        """A full URL is cut at '?' before verification."""
        s1 = next(s for s in SAMPLES if s.id == "S1")
        assert main(["ipn", "verify", "https://shop.example/ipn?" + s1.raw]) == 0

    def test_stdin(self, monkeypatch, capsys) -> None:
        """'-' reads the query from stdin, trailing newline included."""
        s5 = next(s for s in SAMPLES if s.id == "S5")
        monkeypatch.setattr(sys, "stdin", io.StringIO(s5.raw + "\n"))
        assert main(["ipn", "verify", "-"]) == 0

    def test_tampered_exit_1(self, capsys) -> None:
        """A tampered sample exits 1."""
        s1 = next(s for s in SAMPLES if s.id == "S1")
        assert main(["ipn", "verify", s1.raw.replace("Mt=1000", "Mt=1001")]) == 1

    @pytest.mark.parametrize("query", ["", "M=100&E=00000", "M=1&K=%%%", "nonsense"])
    def test_malformed_exit_2(self, query, capsys) -> None:
        """Messages without readable data or signature exit 2."""
        assert main(["ipn", "verify", query]) == 2
        assert "MALFORMED" in capsys.readouterr().out

    def test_extra_key_from_settings(self, monkeypatch, tmp_path: Path, capsys) -> None:
        """Keys listed in UP2PAY_PUBLIC_KEYS are accepted, and our notifications interpreted."""
        raw = "shop=1&" + signed_query(APETIZ)
        assert main(["ipn", "verify", raw, "--first-param", "M"]) == 1
        pem = tmp_path / "sandbox.pem"
        pem.write_bytes(public_pem(fake_up2pay_key()))
        monkeypatch.setenv("UP2PAY_PUBLIC_KEYS", str(pem))
        capsys.readouterr()
        assert main(["ipn", "verify", raw, "--first-param", "M"]) == 0
        out = capsys.readouterr().out
        assert "not signed (leading): shop=1" in out
        assert "outcome: paid" in out
        assert "leg: APETIZ" in out

    def test_key_option(self, tmp_path: Path) -> None:
        """--key adds a public key file for this run."""
        pem = tmp_path / "k.pem"
        pem.write_bytes(public_pem(fake_up2pay_key()))
        assert main(["ipn", "verify", signed_query(APETIZ), "--key", str(pem)]) == 0

    def test_unreadable_key_exit_2(self, tmp_path: Path, capsys) -> None:
        """An unreadable key file is reported and exits 2."""
        code = main(["ipn", "verify", signed_query(APETIZ), "--key", str(tmp_path / "no.pem")])
        assert code == 2
        assert "cannot read public key file" in capsys.readouterr().err

    def test_bad_retour_exit_2(self, capsys) -> None:
        """A --retour with U is refused."""
        s1 = next(s for s in SAMPLES if s.id == "S1")
        assert main(["ipn", "verify", s1.raw, "--retour", "Mt:M;abo:U;Sign:K"]) == 2
