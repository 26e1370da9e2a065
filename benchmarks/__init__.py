"""``make bench``: the app's hot paths under ``wrk`` load, beside a bare FastAPI endpoint.

Run with ``python -m benchmarks`` (options: ``--help``; ``--quick`` for a short smoke run). Both
servers are started the way ``saleor-up2pay serve`` starts the app, load comes from ``wrk``
replaying pre-signed requests, and everything runs on loopback with a Redis server in a
temporary directory. ``benchmarks/README.md`` describes the scenarios and records the figures.
"""
