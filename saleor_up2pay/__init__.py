"""Saleor payment App for French meal and holiday vouchers through Up2pay e-Transactions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("saleor-up2pay")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

APP_ID = "saleor.app.up2pay"
"""The manifest id: Saleor ties every transaction to it. Never change it."""
