"""IPN ingest and TRANSACTION_INITIALIZE_SESSION under load, beside a bare FastAPI endpoint.

Scenarios (same client, same concurrency, same process layout):

- ``bare``: a FastAPI app with one ``POST`` endpoint answering an empty 200 — the floor;
- ``ipn``: ``POST /api/up2pay/ipn`` with a freshly signed IPN per request (RSA/SHA-1 signature
  verified by the app, leg stored in Redis, report job queued);
- ``initialize``: ``POST /api/webhooks/transaction-initialize-session`` with a Saleor-signed
  (detached JWS RS256) delivery per request (signature verified, session stored, form signed
  with HMAC-SHA512).

Both apps run as separate uvicorn processes on 127.0.0.1 (one worker each, the app configured
through its environment like in production), the load comes from an asyncio client in this
process; numbers are comparable with each other, not with a production deployment. Messages are
prepared before timing starts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Response

from saleor_up2pay.redis_store import open_redis, start_embedded_server
from saleor_up2pay.saleor.apl import AuthData, AuthStore
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.settings import Settings
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from tests.support.servers import free_port

APP_ID = "QXBwOjEz"
SESSIONS = 200


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))
        return ordered[index]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SaleorSigner:
    """Signs webhook bodies like Saleor (detached JWS, RS256, ``b64: false``)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.kid = "bench-key"
        self.jwks = json.dumps(
            {
                "keys": [
                    {
                        "kty": "RSA",
                        "use": "sig",
                        "alg": "RS256",
                        "kid": self.kid,
                        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                        "e": b64url(numbers.e.to_bytes(3, "big")),
                    }
                ]
            }
        )

    def sign(self, body: bytes) -> str:
        header = {"alg": "RS256", "b64": False, "crit": ["b64"], "kid": self.kid, "typ": "JWT"}
        header_b64 = b64url(json.dumps(header, separators=(",", ":")).encode())
        signature = self.key.sign(
            header_b64.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{header_b64}..{b64url(signature)}"


class Up2paySigner:
    """Signs IPNs like Up2pay (RSA PKCS#1 v1.5 / SHA-1 over the variables, ``K`` last)."""

    def __init__(self, folder: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        self.pem_path = folder / "bench-ipn-pubkey.pem"
        self.pem_path.write_bytes(
            self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def ipn(self, reference: str, numtrans: int) -> bytes:
        data = (
            f"M=1510&R={reference}&T=0014123450&A=XXXXXX&B=0&C=APETIZ&E=00000&P=LIMONETIK"
            f"&Q=12:00:00&S={numtrans}&W=26112026&Y=FRA"
        )
        signature = self.key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA1())
        return f"{data}&K={quote(base64.b64encode(signature).decode(), safe='')}".encode()


def bare_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/bare")
    async def bare() -> Response:
        return Response(status_code=200)

    return app


@contextmanager
def uvicorn_process(
    target: str, port: int, env: dict[str, str], probe: tuple[str, str]
) -> Iterator[str]:
    """Run ``uvicorn --factory target`` on 127.0.0.1:port until the block ends; yields its URL."""
    command = [sys.executable, "-m", "uvicorn", "--factory", target, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                msg = f"{target} exited with {process.returncode}"
                raise RuntimeError(msg)
            try:
                if httpx.request(probe[0], url + probe[1], timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                msg = f"{target} did not start"
                raise RuntimeError(msg)
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def initialize_payload(api_url: str, index: int) -> dict[str, Any]:
    token = str(uuid.uuid4())
    item_id = base64.b64encode(f"TransactionItem:{token}".encode()).decode()
    checkout_id = base64.b64encode(f"Checkout:{uuid.uuid4()}".encode()).decode()
    return {
        "version": "3.23.28",
        "recipient": {"id": APP_ID},
        "issuingPrincipal": None,
        "idempotencyKey": str(uuid.uuid4()),
        "merchantReference": item_id,
        "customerIpAddress": "127.0.0.1",
        "data": {"method": "APETIZ", "returnUrl": "https://shop.example/checkout"},
        "action": {"amount": 20.0, "currency": "EUR", "actionType": "CHARGE"},
        "transaction": {
            "id": item_id,
            "token": token,
            "pspReference": "",
            "createdAt": "2026-11-26T15:15:17.178322+00:00",
        },
        "sourceObject": {
            "__typename": "Checkout",
            "id": checkout_id,
            "email": f"shopper{index}@example.fr",
            "channel": {"slug": "channel-eur", "currencyCode": "EUR"},
            "totalPrice": {"gross": {"amount": 44.8, "currency": "EUR"}},
            "billingAddress": {
                "firstName": "Camille",
                "lastName": "Martin",
                "streetAddress1": "10 rue de Rivoli",
                "city": "PARIS",
                "postalCode": "75004",
                "country": {"code": "FR"},
            },
            "lines": [],
        },
    }


async def load(
    name: str,
    client: httpx.AsyncClient,
    requests: list[tuple[str, bytes, dict[str, str]]],
    *,
    concurrency: int,
    max_seconds: float,
    check: Callable[[httpx.Response], bool],
) -> Result:
    """Send the prepared requests with ``concurrency`` workers; stop early at ``max_seconds``."""
    latencies: list[float] = []
    errors = 0
    position = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker() -> None:
        nonlocal position, errors
        while position < len(requests) and time.perf_counter() < deadline:
            url, body, headers = requests[position]
            position += 1
            begin = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies.append((time.perf_counter() - begin) * 1000)
            if not check(response):
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, len(latencies), errors, time.perf_counter() - started, latencies)


async def seed(settings: Settings, saleor_api_url: str, jwks: str) -> list[str]:
    """The app's auth for a (non-existent) Saleor, and sessions for the IPN references."""
    handle = open_redis(settings)
    try:
        box = SecretBox(settings.resolved_secret_key(), settings.secret_key_fallbacks)
        await AuthStore(handle.client, box).set(AuthData(saleor_api_url, "token", APP_ID, jwks))
        repo = SessionRepository(handle.client)
        references = []
        for index in range(SESSIONS):
            reference = f"B{index:019d}"
            await repo.save(
                PaymentSession(
                    reference=reference,
                    saleor_api_url=saleor_api_url,
                    transaction_id=f"bench-item-{index}",
                    source_type="Checkout",
                    source_id=f"bench-checkout-{index}",
                    channel="channel-eur",
                    method="APETIZ",
                    amount=Decimal("15.10"),
                    currency="EUR",
                    action_type="CHARGE",
                    return_url="https://shop.example/checkout",
                    config_id="default",
                    environment="sandbox",
                    idempotency_key=f"bench-{index}",
                )
            )
            references.append(reference)
        return references
    finally:
        await handle.client.aclose()


def print_table(results: list[Result], bare: Result) -> None:
    header = f"{'scenario':<12}{'requests':>9}{'errors':>8}{'req/s':>10}{'p50 ms':>9}"
    header += f"{'p99 ms':>9}{'vs bare req/s':>15}{'vs bare p50':>13}"
    print(header)
    print("-" * len(header))
    for result in results:
        ratio = result.throughput / bare.throughput if bare.throughput else 0.0
        p50_ratio = result.percentile(50) / bare.percentile(50) if bare.percentile(50) else 0.0
        print(
            f"{result.name:<12}{result.requests:>9}{result.errors:>8}{result.throughput:>10.0f}"
            f"{result.percentile(50):>9.2f}{result.percentile(99):>9.2f}"
            f"{ratio:>14.2f}x{p50_ratio:>12.2f}x"
        )


async def run(requests: int, concurrency: int, max_seconds: float) -> int:
    with tempfile.TemporaryDirectory(prefix="up2pay-bench-") as tmp:
        folder = Path(tmp)
        redis_server = start_embedded_server(folder / "redis.db")
        try:
            up2pay = Up2paySigner(folder)
            saleor = SaleorSigner()
            dead_saleor = f"http://127.0.0.1:{free_port()}/graphql/"
            port = free_port()
            env = {
                "APP_URL": f"http://127.0.0.1:{port}",
                "DATA_DIR": str(folder / "var"),
                "SECRET_KEY": "benchmark-secret-key",
                "REDIS_URL": f"unix://{redis_server.socket_file}",
                "UP2PAY_PUBLIC_KEYS": str(up2pay.pem_path),
                "LOG_LEVEL": "ERROR",
                # Reports to the (absent) Saleor are tried once during the run, not hammered.
                "JOB_RETRY_BASE_SECONDS": "600",
            }
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                app_url=env["APP_URL"],
                data_dir=Path(env["DATA_DIR"]),
                secret_key=env["SECRET_KEY"],
                redis_url=env["REDIS_URL"],
            )
            references = await seed(settings, dead_saleor, saleor.jwks)

            ipn_requests = [
                (
                    "/api/up2pay/ipn",
                    up2pay.ipn(references[i % len(references)], 900_000_000 + i),
                    {"Content-Type": "application/x-www-form-urlencoded"},
                )
                for i in range(requests)
            ]
            init_requests = []
            for i in range(requests):
                body = json.dumps(initialize_payload(dead_saleor, i)).encode()
                signature = saleor.sign(body)
                init_requests.append(
                    (
                        "/api/webhooks/transaction-initialize-session",
                        body,
                        {
                            "Content-Type": "application/json",
                            "Saleor-Event": "transaction_initialize_session",
                            "Saleor-Domain": "127.0.0.1",
                            "Saleor-Signature": signature,
                            "Saleor-Api-Url": dead_saleor,
                        },
                    )
                )
            bare_requests = [
                (r[0].replace("/api/up2pay/ipn", "/bare"), r[1], r[2]) for r in ipn_requests
            ]

            def ok_empty(response: httpx.Response) -> bool:
                return response.status_code == 200

            def ok_initialize(response: httpx.Response) -> bool:
                return response.status_code == 200 and b"_ACTION_REQUIRED" in response.content

            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            print(
                f"saleor-up2pay benchmark: {requests} requests per scenario, concurrency "
                f"{concurrency}, cap {max_seconds:.0f} s each, loopback, real signature checks"
            )
            with (
                uvicorn_process(
                    "benchmarks.run:bare_app", free_port(), {}, ("POST", "/bare")
                ) as bare_url,
                uvicorn_process(
                    "saleor_up2pay.main:create_app", port, env, ("GET", "/healthz")
                ) as app_url,
            ):
                async with (
                    httpx.AsyncClient(base_url=bare_url, limits=limits, timeout=30) as bare_client,
                    httpx.AsyncClient(base_url=app_url, limits=limits, timeout=30) as app_client,
                ):
                    # Warm up both servers (connections, imports, JWKS parsing, key loading).
                    await load(
                        "warmup",
                        bare_client,
                        bare_requests[:50],
                        concurrency=4,
                        max_seconds=5,
                        check=ok_empty,
                    )
                    warm_ipn = [
                        (
                            "/api/up2pay/ipn",
                            up2pay.ipn(references[0], 800_000_000 + i),
                            ipn_requests[0][2],
                        )
                        for i in range(20)
                    ]
                    await load(
                        "warmup", app_client, warm_ipn, concurrency=4, max_seconds=5, check=ok_empty
                    )
                    bare = await load(
                        "bare",
                        bare_client,
                        bare_requests,
                        concurrency=concurrency,
                        max_seconds=max_seconds,
                        check=ok_empty,
                    )
                    ipn = await load(
                        "ipn",
                        app_client,
                        ipn_requests,
                        concurrency=concurrency,
                        max_seconds=max_seconds,
                        check=ok_empty,
                    )
                    init = await load(
                        "initialize",
                        app_client,
                        init_requests,
                        concurrency=concurrency,
                        max_seconds=max_seconds,
                        check=ok_initialize,
                    )
            results = [bare, ipn, init]
            print_table(results, bare)
            print(
                f"p50/p99 latency over all requests; 'vs bare' = scenario / bare endpoint "
                f"(throughput {ipn.throughput / bare.throughput:.2f}x for IPN ingest, "
                f"{init.throughput / bare.throughput:.2f}x for TRANSACTION_INITIALIZE_SESSION)."
            )
            if any(r.errors for r in results):
                print("ERRORS: some requests did not get the expected answer")
                return 1
            return 0
        finally:
            redis_server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time cap of each scenario")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.requests, args.concurrency, args.max_seconds))
