"""``make bench``: throughput and latency of the app's hot paths beside a bare FastAPI endpoint.

Run with ``python -m benchmarks`` (options: ``--help``). Everything runs on loopback with an
embedded Redis in a temporary directory, real signatures are checked, and each scenario stops after
a fixed number of requests or a time cap, so a run takes well under two minutes.
"""
