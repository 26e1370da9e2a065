"""What an operator sees of one IPN: ``/metrics`` (behind its token) and one trace, receipt to
Saleor's answer, with the trace id in the log lines."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from saleor_up2pay import tracing
from saleor_up2pay.jobs import Worker
from saleor_up2pay.log import configure_logging
from saleor_up2pay.main import create_app
from saleor_up2pay.services import Services
from saleor_up2pay.settings import Settings
from saleor_up2pay.wiring import job_handlers
from tests.conftest import PROJECT_ROOT
from tests.transactions.ipn_support import SaleorWorld, ipn, new_session, write_public_key

TOKEN = "scrape-token-0123456789"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        app_url="http://app.test",
        data_dir=tmp_path / "var",
        secret_key="test-secret-key",
        up2pay_public_keys=[str(write_public_key(tmp_path / "keys"))],
        metrics_token=TOKEN,
    )


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services=services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as c:
            yield c


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition ``text`` (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        base, _, label_text = metric.partition("{")
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if base == name and got == wanted:
            return float(value)
    return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


class TestMetricsEndpoint:
    async def test_metrics_need_the_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert (await client.get("/metrics", headers=wrong)).status_code == 401
        assert (await client.get("/metrics", headers=SCRAPE)).status_code == 200

    async def test_no_token_no_metrics(self, services: Services) -> None:
        """With METRICS_TOKEN unset, /metrics does not exist."""
        services.settings = services.settings.model_copy(update={"metrics_token": None})
        app = create_app(services=services)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://app.test") as c,
        ):
            response = await c.get("/metrics", headers=SCRAPE)
        assert response.status_code == 404

    async def test_an_ipn_and_its_report_are_counted(
        self, client: httpx.AsyncClient, services: Services, installed: SaleorWorld
    ) -> None:
        before = await scrape(client)
        session = await new_session(services, installed)
        response = await client.post(
            "/api/up2pay/ipn", content=ipn(session.reference, amount_cents=2000), headers=FORM
        )
        assert response.status_code == 200
        waiting = await scrape(client)
        assert sample(waiting, "up2pay_ipn_total", outcome="accepted") == (
            sample(before, "up2pay_ipn_total", outcome="accepted") + 1
        )
        assert sample(waiting, "up2pay_jobs_queued", kind="ipn.report") == 1
        assert sample(waiting, "up2pay_jobs_due") == 1

        await Worker(services.job_queue, job_handlers(services)).drain()
        after = await scrape(client)
        assert sample(after, "up2pay_jobs_queued", kind="ipn.report") == 0
        assert sample(after, "up2pay_jobs_oldest_age_seconds", kind="ipn.report") == 0
        reported = {"leg": "APETIZ", "status": "ACCEPTED"}
        assert sample(after, "up2pay_legs_reported_total", **reported) == (
            sample(before, "up2pay_legs_reported_total", **reported) + 1
        )
        done = {"kind": "ipn.report", "result": "done"}
        assert sample(after, "up2pay_jobs_run_total", **done) == (
            sample(before, "up2pay_jobs_run_total", **done) + 1
        )
        assert sample(after, "up2pay_open_problems", saleor_api_url=installed.api_url) == 0
        assert TOKEN not in after

    async def test_the_dashboard_uses_only_exposed_metrics(self, client: httpx.AsyncClient) -> None:
        """Every metric docs/grafana-dashboard.json queries is in /metrics."""
        dashboard = json.loads(
            (PROJECT_ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8")
        )
        exprs = [
            target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
        ]
        assert exprs
        used = {name for expr in exprs for name in re.findall(r"\bup2pay_[a-z_]+", expr)}
        text = await scrape(client)
        exposed = set(re.findall(r"^# (?:HELP|TYPE) (up2pay_[a-z_]+)", text, flags=re.M))
        exposed |= {f"{name}_{end}" for name in exposed for end in ("bucket", "count", "sum")}
        exposed |= {f"{name}_total" for name in exposed}
        assert used - exposed == set()


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    spans = InMemorySpanExporter()
    tracing.configure(None, role="test", exporter=spans)
    yield spans
    HTTPXClientInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()
    spans.clear()


class TestTrace:
    async def test_one_trace_from_the_ipn_to_saleors_answer(
        self,
        services: Services,
        installed: SaleorWorld,
        exporter: InMemorySpanExporter,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        session = await new_session(services, installed)
        configure_logging("INFO", "json")
        exporter.clear()
        app = create_app(services=services)
        tracing.configure(None, role="test", app=app, exporter=exporter)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://app.test") as c,
        ):
            response = await c.post(
                "/api/up2pay/ipn", content=ipn(session.reference, amount_cents=2000), headers=FORM
            )
        assert response.status_code == 200
        await Worker(services.job_queue, job_handlers(services)).drain()

        spans: list[ReadableSpan] = list(exporter.get_finished_spans())
        route = next(s for s in spans if s.kind is SpanKind.SERVER)
        assert route.context is not None
        trace_id = route.context.trace_id
        ours = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
        by_id = {s.context.span_id: s for s in ours if s.context is not None}
        job = next(s for s in ours if s.name == "job ipn.report")

        def url(span: ReadableSpan) -> str:
            attributes = span.attributes or {}
            return str(attributes.get("url.full") or attributes.get("http.url") or "")

        saleor_calls = [
            s for s in ours if s.kind is SpanKind.CLIENT and url(s) == installed.api_url
        ]
        # (on a Redis Cluster the instrumentation sets no db.system, only the command's figures)
        redis_calls = [
            s
            for s in ours
            if s.attributes
            and ("db.system" in s.attributes or "db.redis.args_length" in s.attributes)
        ]
        assert redis_calls  # the intake's and the job's Redis commands
        assert saleor_calls  # the report to Saleor, in the same trace

        def ancestors(span: ReadableSpan) -> list[str]:
            names = []
            while span.parent is not None and span.parent.span_id in by_id:
                span = by_id[span.parent.span_id]
                names.append(span.name)
            return names

        assert route.name in ancestors(job)  # the job continues the IPN's trace
        assert job.name in ancestors(saleor_calls[-1])  # Saleor's answer is under the job
        # Every JSON log line written inside the trace carries its id.
        hex_id = format(trace_id, "032x")
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        received = next(line for line in lines if line.get("event") == "ipn.received")
        reported = next(line for line in lines if line.get("event") == "ipn.reported")
        assert received["trace_id"] == hex_id
        assert reported["trace_id"] == hex_id
        assert len(received["span_id"]) == 16
