"""The saleor-up2pay command as a user meets it: version, help text, serve options."""

from __future__ import annotations

import pytest

from saleor_up2pay import __version__
from saleor_up2pay.cli import build_parser, main


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


class TestCommandLine:
    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the installed package version."""
        with pytest.raises(SystemExit) as info:
            main(["--version"])
        assert info.value.code == 0
        assert capsys.readouterr().out.strip() == f"saleor-up2pay {__version__}"

    @pytest.mark.parametrize(
        "argv", [(), ("serve",), ("rotate-secrets",), ("sandbox",), ("ipn", "verify")]
    )
    def test_help_has_no_markup(self, capsys: pytest.CaptureFixture[str], argv: tuple[str]) -> None:
        """Help text is plain: no reStructuredText literals or roles from the docstrings."""
        text = _help(capsys, *argv)
        assert "``" not in text
        assert ":func:" not in text

    def test_serve_takes_host_and_port(self) -> None:
        """serve has --host/--port like sandbox; a port out of range is refused by the parser."""
        args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "8123"])
        assert (args.host, args.port) == ("0.0.0.0", 8123)
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--port", "70000"])
