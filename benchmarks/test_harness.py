"""Cheap checks of the bench harness (no server, no load, no timing).

Outside the suite's ``testpaths``; run with ``.venv/bin/pytest benchmarks -q``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import messages
from benchmarks.run import LUA, count_round_trips, request_commands, summarise_profile
from saleor_up2pay.up2pay.notifications import verify_ipn
from saleor_up2pay.up2pay.signature import PublicKeys


def test_request_files_round_trip_and_ipns_verify(tmp_path: Path) -> None:
    up2pay = messages.Up2paySigner(tmp_path)
    saleor = messages.SaleorSigner()
    written = [
        up2pay.ipn("B000000000000000001", 100_000_001),
        messages.initialize_delivery(saleor, "http://127.0.0.1:1/graphql/", 1),
        messages.process_delivery(saleor, "http://127.0.0.1:1/graphql/", "item-1", 1),
    ]
    path = tmp_path / "requests.tsv"
    assert messages.write_requests(path, written) == 3
    assert messages.read_requests(path) == written
    keys = PublicKeys.shipped((str(up2pay.pem_path),))
    assert verify_ipn(written[0].body, keys).numtrans == "100000001"


def test_a_field_with_a_tab_is_refused() -> None:
    with pytest.raises(ValueError, match="TAB"):
        messages.Request("POST", "/x", b"a\tb").line()


def test_monitor_lines_are_counted_as_round_trips() -> None:
    lines = [
        '1.0 [0 unix:/s] "ECHO" "ipn"',
        '1.1 [0 unix:/s] "GET" "k"',
        '1.2 [0 unix:/s] "MULTI"',
        '1.3 [0 unix:/s] "SADD" "a" "1"',
        '1.4 [0 unix:/s] "SADD" "b" "1"',
        '1.5 [0 unix:/s] "EXEC"',
        '1.6 [0 unix:/s] "EVALSHA" "abc" "1" "k"',
        '1.7 [0 lua] "ZADD" "due" "1" "j"',
        '1.8 [0 unix:/s] "ECHO" "end"',
    ]
    assert count_round_trips(lines)["ipn"] == (3, 5)


def test_one_requests_commands_are_listed_with_instance_ids_hidden() -> None:
    iid = "0123456789abcdef01234567"
    lines = [
        '1.0 [0 unix:/s] "ECHO" "init (last)"',
        f'1.1 [0 unix:/s] "HGETALL" "up2pay:i:{iid}:auth"',
        f'1.2 [0 unix:/s] "EVALSHA" "abc" "2" "up2pay:i:{iid}:session-idem:x" "y" "z"',
        f'1.3 [0 lua] "SET" "up2pay:i:{iid}:session:R1" "{{\\"a\\": 1}}"',
        '1.4 [0 unix:/s] "ECHO" "end"',
        '1.5 [0 unix:/s] "GET" "after"',
    ]
    assert request_commands(lines, "init (last)") == [
        "HGETALL up2pay:i:<iid>:auth",
        "EVALSHA up2pay:i:<iid>:session-idem:x",
        "    SET up2pay:i:<iid>:session:R1",
    ]


def test_profile_summary_reads_collapsed_stacks(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (a.py:1);get (redis/client.py:2) 3\n"
        "main (a.py:1);info (structlog/x.py:3) 1\n"
        "_bootstrap (threading.py:1);wait (threading.py:2) 4\n"
    )
    summary = summarise_profile(raw)
    assert "75.0 %  redis-py client" in summary
    assert "(4 on other threads" in summary


@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed")
@pytest.mark.parametrize("rate", [[], ["50"]], ids=["full speed", "fixed rate"])
def test_wrk_loads_the_lua_script(tmp_path: Path, rate: list[str]) -> None:
    """The script replays the file, unthrottled or on a fixed-rate schedule (delay() hook)."""
    path = tmp_path / "requests.tsv"
    messages.write_requests(path, [messages.Request("POST", "/bare", b"x=1", {"A": "b"})])
    seen: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.headers["A"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        done = subprocess.run(
            ["wrk", "-t1", "-c1", "-d1s", "-s", str(LUA), url, "--", str(path), "1", *rate],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "BENCH_JSON" in done.stdout, done.stdout + done.stderr
    assert seen[0] == ("b", b"x=1")


def test_targets_are_checked_against_the_run() -> None:
    """The run ends with issue 12's targets, met or not, from its own rows."""
    from benchmarks.run import Row, check_targets  # noqa: PLC0415

    def row(name: str, rate: float, p99: float, cpu: float = 1.0) -> Row:
        return Row(name, 32, int(rate * 10), 10.0, 1.0, p99, 0, 0, cpu, 0.0, 0)

    bare = row("bare", 1000, 5)
    ipn = row("ipn distinct", 600, 15)
    ipn.bare = bare
    dup = row("ipn duplicate", 500, 15)
    dup.bare = bare
    small, large = row("ipn +10k legs", 600, 15, 1.0), row("ipn +990k legs", 600, 15, 1.1)
    checks = {
        target: met
        for target, _, met in check_targets(
            [bare, ipn, dup, small, large],
            {"ipn": (2.0, 14.0), "initialize": (6.0, 12.0)},
            {"legs_per_s_under_load": 600.0, "backlog_at_end_of_load": 0.0},
        )
    }
    assert checks["IPN distinct >= 0.5x bare, p99 < 20 ms (32 conn)"] is True
    assert checks["IPN duplicate >= 0.7x bare (32 conn)"] is False
    assert checks["initialize >= 0.3x bare, p99 < 25 ms"] is None
    assert checks["ipn: <= 2 Redis round trips"] is True
    assert checks["initialize: <= 3 Redis round trips"] is False
    assert checks[">= 500 legs/s end to end under intake, no backlog growth"] is True
    assert checks["no slowdown from data size (CPU per IPN)"] is True


def test_fake_saleor_answers_each_aliased_report_and_keeps_names() -> None:
    """A batch of reports gets one answer per alias; a renamed item shows its name after."""
    import asyncio  # noqa: PLC0415 - only this check drives the ASGI app
    import json  # noqa: PLC0415

    from benchmarks import fake_saleor  # noqa: PLC0415
    from saleor_up2pay.saleor.batching import batch_document  # noqa: PLC0415

    async def call(query: str, variables: dict[str, object]) -> dict[str, object]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/graphql/"}
        await fake_saleor.app(scope, receive, send)
        return dict(json.loads(sent[-1]["body"]))  # type: ignore[arg-type]

    batch = batch_document(("transaction_event_report", "transaction_update"))
    asyncio.run(call(batch.query, {"id_0": "A", "id_1": "A", "transaction_1": {"name": "N"}}))
    reports = batch_document(("transaction_event_report",) * 3)
    answer = asyncio.run(call(reports.query, {"id_0": "A", "id_1": "B", "id_2": "C"}))
    data = answer["data"]
    assert isinstance(data, dict)
    assert [data[alias]["transaction"]["name"] for alias in ("m0", "m1", "m2")] == ["N", "", ""]
    assert fake_saleor.counts["transactionEventReport"] >= 4


def test_the_backlog_slope_is_a_least_squares_fit() -> None:
    from benchmarks.run import backlog_slope  # noqa: PLC0415

    assert backlog_slope([(1.0, 10.0), (2.0, 13.0), (3.0, 16.0)]) == pytest.approx(3.0)
    # Noise around a flat backlog fits a slope near 0; a draining backlog a negative one.
    assert backlog_slope([(1.0, 20.0), (2.0, 25.0), (3.0, 15.0), (4.0, 20.0)]) == pytest.approx(
        -1.0
    )
    assert backlog_slope([(0.0, 100.0), (2.0, 60.0)]) == pytest.approx(-20.0)
    assert backlog_slope([(1.0, 5.0)]) == 0.0


def test_a_fixed_rate_runs_steady_state_leaves_the_warm_up_out() -> None:
    from benchmarks.run import steady_figures  # noqa: PLC0415

    # (seconds, backlog, legs reported so far): a ramp of 300 jobs in the first 2 s, then flat
    # while 500 legs/s are reported.
    samples = [(1.0, 200, 0), (2.0, 300, 400), (3.0, 300, 900), (4.0, 300, 1400), (5.0, 300, 1900)]
    # The last sample came after the load stopped (no intake, the backlog drained): left out.
    samples.append((6.0, 0, 2200))
    steady = steady_figures(samples, warm_up=2.0, until=5.0)
    assert steady["legs_per_s"] == pytest.approx(500.0)
    assert steady["queued_per_s"] == pytest.approx(500.0)
    assert steady["slope_per_s"] == pytest.approx(0.0)
    assert steady["seconds"] == pytest.approx(3.0)
    assert steady_figures(samples, warm_up=9.0, until=10.0)["legs_per_s"] == 0.0


def test_the_e2e_target_is_judged_on_the_fixed_rate_run() -> None:
    """Met only at >= 500 IPN/s offered, the intake and the reporting keeping up, the backlog
    flat; the unthrottled run is not judged when there is a fixed-rate one."""
    from benchmarks.run import TARGET_E2E, check_targets, sustained  # noqa: PLC0415

    def run(rate: float, intake: float, legs: float, slope: float) -> dict[str, float]:
        return {
            "rate": rate,
            "intake_rate": intake,
            "legs_per_s_after_warm_up": legs,
            "backlog_slope_per_s": slope,
            "backlog_at_end_of_load": 40.0,
        }

    unthrottled = {"legs_per_s_under_load": 305.0, "backlog_at_end_of_load": 6843.0}
    flat = run(500, 498, 490, 3.0)
    assert sustained(flat)[0] is True
    assert "tolerance < 10" in sustained(flat)[1]
    assert sustained(run(500, 440, 440, 0.0))[0] is False  # intake below 95 % of the rate
    assert sustained(run(500, 500, 450, 0.0))[0] is False  # reporting below 95 % of intake
    assert sustained(run(500, 500, 490, 12.0))[0] is False  # backlog growing
    assert sustained(run(500, 500, 520, -30.0))[0] is True  # a draining backlog is fine

    def verdict(fixed: list[dict[str, float]] | None) -> bool | None:
        checks = {t: m for t, _, m in check_targets([], {}, unthrottled, fixed)}
        return checks[TARGET_E2E]

    assert verdict(None) is False  # the unthrottled run's figures
    assert verdict([flat]) is True
    assert verdict([run(300, 300, 300, 0.0)]) is False  # sustained, but below 500
    assert verdict([run(300, 300, 300, 0.0), flat, run(700, 690, 400, 250.0)]) is True


def test_the_job_workers_polling_is_not_counted_as_the_requests() -> None:
    """MONITOR interleaves the worker's shard list, claims, sweep and health checks with the
    requests' commands: they are left out of both the counts and the breakdown."""
    lines = [
        '1.0 [0 unix:/s] "ECHO" "init"',
        '1.1 [0 unix:/s] "SMEMBERS" "up2pay:{global}:jobs:shards"',
        '1.2 [0 unix:/s] "SET" "up2pay:ref:R1" "u"',
        '1.3 [0 unix:/s] "EVALSHA" "abc" "1" "up2pay:{global}:jobs:due" "10"',
        '1.4 [0 lua] "ZRANGEBYSCORE" "up2pay:{global}:jobs:due" "-inf" "1"',
        '1.5 [0 unix:/s] "EVALSHA" "def" "1" "up2pay:i:{x}:session:R1"',
        '1.6 [0 lua] "SET" "up2pay:i:{x}:session:R1" "{}"',
        '1.7 [0 unix:/s] "SCAN" "0" "MATCH" "*:jobs:due"',
        '1.8 [0 unix:/s] "PING"',
        '1.9 [0 unix:/s] "ECHO" "end"',
    ]
    assert count_round_trips(lines)["init"] == (2, 3)
    assert request_commands(lines, "init") == [
        "SET up2pay:ref:R1",
        "EVALSHA up2pay:i:{x}:session:R1",
        "    SET up2pay:i:{x}:session:R1",
    ]
