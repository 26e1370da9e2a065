"""A local Up2pay e-Transactions sandbox: hosted page, signed IPNs, GAE, ``load.html``.

Written from ``shared/reference/up2pay-protocol.md`` and the Conecs/CV-Connect manual, never from
the app's client (:mod:`saleor_up2pay.up2pay` is not imported here), so the two implementations
check each other. Run it with ``saleor-up2pay sandbox``; see ``docs/sandbox.md``.

Public API: :func:`create_sandbox_app`, :class:`SandboxConfig`, :class:`SandboxAccount`,
:data:`DEFAULT_ACCOUNT`, :func:`parse_accounts`.
"""

from saleor_up2pay.sandbox.app import create_sandbox_app
from saleor_up2pay.sandbox.config import (
    DEFAULT_ACCOUNT,
    SandboxAccount,
    SandboxConfig,
    parse_accounts,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "SandboxAccount",
    "SandboxConfig",
    "create_sandbox_app",
    "parse_accounts",
]
