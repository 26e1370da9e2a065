"""Per-channel Up2pay configurations: what the dashboard page writes and the payment flows read.

Public API (stable; other areas import from here):

- :class:`Up2payConfiguration` (frozen pydantic model): ``id, name, environment, site, rang,
  identifiant, hmac_key (SecretStr), methods, capture_mode`` and ``key_hint`` (last 4 characters of
  the HMAC key, the only part ever shown after saving).
- :class:`ConfigurationInput`: what the dashboard sends to save one (same validation; ``id`` absent
  = new configuration; empty ``hmac_key`` = keep the stored one). :func:`field_errors` turns a
  pydantic ``ValidationError`` into ``FieldError(field, code, message)`` rows for the form.
- :data:`METHODS` / :func:`method_info`: one table of voucher methods (code, label, kind).
- :class:`ConfigurationRepository(redis, secretbox, settings)`:
  ``for_channel(url, channel_slug)`` (the mapped configuration, else :meth:`default`, built from
  ``Settings.up2pay_*`` with id ``"default"``: with nothing set, the sandbox and its test
  credentials), ``list``, ``get``, ``save``, ``delete`` (refused while a channel uses it),
  ``channel_mapping``, ``map_channel``, ``rotate_secrets`` / ``rotate_all_secrets``;
  ``services.configurations`` gives the process-wide one.

Storage (all under ``instance_key(url, "config", ...)`` so APP_DELETED purges it): one hash
``config:items`` (configuration id → JSON, HMAC key encrypted with the SecretBox) and one hash
``config:channels`` (channel slug → configuration id). Every write is one command or one
WATCH/MULTI/EXEC transaction.
"""

from saleor_up2pay.configuration.models import (
    DEFAULT_CONFIGURATION_ID,
    METHODS,
    CaptureMode,
    ConfigurationInput,
    EnvironmentName,
    FieldError,
    MethodCode,
    MethodInfo,
    MethodKind,
    Up2payConfiguration,
    field_errors,
    method_info,
)
from saleor_up2pay.configuration.repository import (
    ConfigurationInUse,
    ConfigurationNotFound,
    ConfigurationRepository,
    InvalidConfiguration,
)

__all__ = [
    "DEFAULT_CONFIGURATION_ID",
    "METHODS",
    "CaptureMode",
    "ConfigurationInUse",
    "ConfigurationInput",
    "ConfigurationNotFound",
    "ConfigurationRepository",
    "EnvironmentName",
    "FieldError",
    "InvalidConfiguration",
    "MethodCode",
    "MethodInfo",
    "MethodKind",
    "Up2payConfiguration",
    "field_errors",
    "method_info",
]
