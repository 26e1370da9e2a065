"""OpenTelemetry traces, off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

:func:`configure` (called where the app or a worker process is built) installs a tracer
provider exporting over OTLP/HTTP, and the FastAPI, httpx and redis instrumentations: a request
is a span, each Redis command and each outgoing HTTP call (Saleor, GAE, JWKS) a child span. The
standard ``OTEL_*`` variables (``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS``...) are read
by the SDK.

A job carries the trace of the request that queued it (:func:`current_traceparent`, stored with
the job by :mod:`saleor_up2pay.jobs`), and its run is a child span of it (:func:`job_span`): one
trace follows an IPN from its receipt to Saleor's answer to its report, across processes. Every
log line written while a span is active carries ``trace_id`` and ``span_id``
(:func:`add_trace_ids`, a structlog processor).

With tracing off, all of this costs a context lookup: the API's no-op tracer is used.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("saleor_up2pay")
_configured = False

EXCLUDED_URLS = "healthz,readyz,metrics"
"""Routes never traced (probes and scrapes)."""


def add_trace_ids(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the active span, when there is one."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = format(span_context.trace_id, "032x")
        event_dict["span_id"] = format(span_context.span_id, "016x")
    return event_dict


def current_traceparent() -> str:
    """The W3C ``traceparent`` of the active span ('' when none: tracing off, or no request)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return ""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def job_span(kind: str, job_id: str, traceparent: str, attempt: int) -> Iterator[trace.Span]:
    """The span of one job run, a child of the span that queued it (when it had one)."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    with _tracer.start_as_current_span(
        f"job {kind}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"job.kind": kind, "job.id": job_id, "job.attempt": attempt},
    ) as span:
        yield span


def configure(endpoint: str | None, *, role: str, app: Any = None, exporter: Any = None) -> bool:
    """Start exporting traces when ``endpoint`` (or, in tests, ``exporter``) is given.

    Installs the provider and the httpx and redis instrumentations once per process, and the
    FastAPI one on ``app``. Returns whether tracing is on.
    """
    global _configured  # noqa: PLW0603 - one provider per process
    if endpoint is None and exporter is None:
        return False
    if not _configured:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415
        from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )

        provider = TracerProvider(
            resource=Resource.create({"service.name": "saleor-up2pay", "saleor_up2pay.role": role})
        )
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=_traces_url(endpoint or "")))
            )
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        HTTPXClientInstrumentor().instrument()
        RedisInstrumentor().instrument()
        _configured = True
    if app is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

        FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS)
    return True


def _traces_url(endpoint: str) -> str:
    """``OTEL_EXPORTER_OTLP_ENDPOINT`` is the collector's base URL; traces go to its path."""
    return endpoint.rstrip("/") + "/v1/traces"


def shutdown() -> None:
    """Flush the spans still buffered (at the end of a process)."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if callable(flush):
        flush()
