"""The Saleor adapter: the Saleor App protocol, and nothing about Up2pay (never imports ``up2pay``).

Public API other areas code against (stable names):

``saleor_up2pay.saleor.apl``
    ``AuthData(saleor_api_url, token, app_id, jwks)`` — frozen dataclass; ``jwks`` is the raw JSON
    text of ``<origin>/.well-known/jwks.json``; ``repr`` hides the token.
    ``AuthStore(redis, secretbox)`` — ``await get(url) -> AuthData | None``, ``await set(auth)``,
    ``await delete(url)``, ``await all() -> list[AuthData]``; ``await get_cached(url)`` (a few
    seconds in memory, for webhook deliveries) and ``forget(url)``. Stored as a hash under
    ``instance_key(url, "auth")`` (so ``purge_instance`` removes it) with the token encrypted by the
    SecretBox; installed URLs are indexed in the set ``up2pay:instances``.
    ``services.auth_store -> AuthStore`` — the process-wide one.

``saleor_up2pay.saleor.signature``
    ``JwksVerifier(store, http)``:
    ``await verify_webhook(auth, signature, raw_body) -> None`` (detached JWS, RS256 pinned,
    ``b64: false`` per RFC 7797, key chosen by ``kid``) and
    ``await verify_dashboard_token(auth, token) -> dict[str, Any]`` (RS256 JWT, ``exp``/``iat``
    required; returns the claims — the caller checks ``app``/``iss``/permissions).
    Both refetch the JWKS once on an unknown kid or a bad signature, retry, and persist the new
    JWKS through the store (refetches rate-limited to one per instance per 5 s; a limited request
    retries with whatever JWKS a concurrent one stored). Failures raise ``SignatureInvalid``
    (never anything weaker); an expired or malformed token does not trigger a refetch.
    ``fetch_jwks(http, saleor_api_url) -> str`` (raises ``JwksUnavailable``);
    ``services.jwks_verifier -> JwksVerifier`` — the process-wide one.

``saleor_up2pay.saleor.client``
    ``SaleorClient(http, saleor_api_url, token)``:
    ``await execute(document, variables=None) -> dict`` (the ``data`` object) where ``document`` is
    the NAME of a ``.graphql`` file anywhere under ``graphql/`` (``"transaction_event_report"`` →
    ``graphql/mutations/transaction_event_report.graphql``); ``await mutate(document, variables,
    result_field) -> dict`` (``data[result_field]``, raising on its ``errors``).
    Money in answers is ``Decimal``; ``Decimal`` variables are sent as exact JSON numbers.
    Errors: ``SaleorError`` ⊃ ``SaleorTransportError`` (network, timeout, HTTP 5xx: retryable),
    ``SaleorGraphQLError`` (top-level ``errors`` or a malformed answer; ``.errors``),
    ``SaleorMutationError`` (``.code``, ``.field``, ``.message``, ``.errors``).
    ``saleor_up2pay.saleor.documents.load_document(name) -> str`` reads one document (cached).

``saleor_up2pay.saleor.definitions``
    ``WebhookDefinition(name, event, is_sync, document, path)`` and the one list ``WEBHOOKS``:
    the manifest and the routes are both built from it. ``event`` is the enum name
    (``"TRANSACTION_INITIALIZE_SESSION"``); ``definition.header_event`` is the lower-case value
    Saleor sends in ``Saleor-Event``. Which use case answers an event is the explicit map
    ``saleor_up2pay.wiring.WEBHOOK_HANDLERS``; an event missing from it answers 500
    ``HANDLER_MISSING`` instead of breaking start-up.
    ``definition_for_event(event)``. Paths: ``APP_PAGE_PATH = "/app"`` (dashboard iframe,
    ``appUrl``), ``MANIFEST_PATH``, ``REGISTER_PATH``, ``LOGO_PATH``.

``saleor_up2pay.saleor.webhooks``
    ``WebhookContext(auth, event, payload, raw_body, errors, client)`` handed, with the app's
    services, to every ``async def handle(services, ctx)`` (its outcome's ``dump()`` is the JSON
    answered with HTTP 200). ``verify_request`` needs only ``SaleorServices`` (HTTP pool, auth
    store, JWKS verifier): this adapter never imports the app's composition. ``payload`` is
    parsed with ``parse_float=Decimal`` only after the signature verified; ``errors`` is the
    top-level ``errors`` array Saleor adds on field errors (``None`` when absent).
    ``ctx.saleor_api_url`` is a shortcut. ``verify_request(...)`` runs the checks in app-sdk order;
    refusals are AppErrors: 401 ``MISSING_SALEOR_API_URL`` / ``NOT_REGISTERED`` /
    ``MISSING_SIGNATURE`` / ``SIGNATURE_VERIFICATION_FAILED``, 400 ``WRONG_EVENT`` /
    ``INVALID_PAYLOAD``, 403 ``WRONG_RECIPIENT``; 500 ``HANDLER_MISSING`` for an unwritten use case.

``saleor_up2pay.saleor.register``
    ``register(services: RegisterServices, saleor_api_url, auth_token) -> AuthData``
    (``POST /api/register``): 403 ``SALEOR_URL_PROHIBITED``, 401 ``UNKNOWN_APP_ID`` /
    ``JWKS_NOT_AVAILABLE``, 400 ``INVALID_SALEOR_API_URL`` / ``MISSING_AUTH_TOKEN``, 500
    ``REGISTRATION_FAILED``.

``saleor_up2pay.saleor.responses``
    ``SessionResponse``, ``ActionResponse``, ``GatewayInitResponse``, ``CardDetails``,
    ``OtherDetails`` — pydantic models of sync answers with ``.dump()`` (camelCase, nulls omitted,
    amounts as strings).

``saleor_up2pay.saleor.manifest``
    ``build_manifest(settings) -> dict`` (absolute URLs from ``APP_URL``, never from ``Host``);
    static text in ``manifest/manifest.json``, logo ``manifest/logo.png`` served at ``LOGO_PATH``.

Tests: ``tests/fakes/fake_saleor.py`` is a fake Saleor (JWKS, schema-validating ``/graphql/``,
``install``, signed ``send_webhook``, ``dashboard_token``); see its docstring.
"""
