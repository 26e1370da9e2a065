"""Fixtures of the hardening tests: the Saleor adapter's fake Saleor and installed app."""

from tests.saleor.conftest import fake_saleor, installed

__all__ = ["fake_saleor", "installed"]
