"""The open-loop generator of benchmarks/apply_open_loop.py keeps its schedule whatever the answers, and counts a
request's latency from its scheduled time (no coordinated omission)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import apply_open_loop


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stall = 0.0  # seconds the first application is held before its answer
    seen: list[dict[str, object]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        first = not self.server.seen
        self.server.seen.append(body)
        if first:
            time.sleep(self.server.stall)
        refused = body["order_no"] == "REFUSED"
        payload = json.dumps({"code": "amount_exceeded"} if refused else {"refund_no": "R1"}).encode()
        self.send_response(409 if refused else 201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _applications(count: int, refused: int = -1) -> list[tuple[str, dict[str, object]]]:
    return [("token", {"order_no": "REFUSED" if n == refused else f"O{n}"}) for n in range(count)]


def test_a_stalled_answer_delays_the_queued_arrivals_and_counts_against_them(server: _Server) -> None:
    server.stall = 0.5
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # One sender: the arrivals at 0.1 s, 0.2 s ... wait behind the first application's 0.5 s answer.
    results, start, _ = apply_open_loop.offer(url, _applications(10), rate=10, seconds=0.5, senders=1)

    assert len(results) == 5
    assert [body["order_no"] for body in server.seen] == ["O0", "O1", "O2", "O3", "O4"]
    scheduled = [round(r[0] - start, 3) for r in results]
    assert scheduled == [0.0, 0.1, 0.2, 0.3, 0.4]
    latencies = [answered - planned for planned, _, answered, _ in results]
    assert latencies[0] >= 0.5
    # The second one was due at 0.1 s and sent after the first answer at 0.5 s: at least 0.4 s late.
    assert results[1][1] - results[1][0] >= 0.4
    assert latencies[1] >= 0.4
    assert all(error == "" for *_, error in results)


def test_arrivals_keep_their_schedule_while_answers_are_slow(server: _Server) -> None:
    server.stall = 0.5
    url = f"http://127.0.0.1:{server.server_address[1]}"
    results, _, _ = apply_open_loop.offer(url, _applications(10), rate=10, seconds=0.5, senders=8)
    results.sort()  # kept in the order of the answers: the stalled first one came last

    assert len(results) == 5
    assert results[0][2] - results[0][0] >= 0.5
    # With free senders the later arrivals are sent on time, not after the stalled one.
    assert all(sent - planned < 0.1 for planned, sent, _, _ in results[1:])
    assert all(answered - planned < 0.4 for planned, _, answered, _ in results[1:])


def test_refusals_are_counted_by_status_and_code(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    results, _, _ = apply_open_loop.offer(url, _applications(6, refused=2), rate=20, seconds=0.25, senders=4)

    assert sorted(error for *_, error in results) == ["", "", "", "", "409 amount_exceeded"]


def test_a_plan_too_small_for_the_rate_is_refused_before_anything_is_sent(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with pytest.raises(SystemExit, match="holds 3 applications, 10 are needed"):
        apply_open_loop.offer(url, _applications(3), rate=10, seconds=1, senders=2)
    assert server.seen == []


def test_the_summary_counts_latency_from_the_schedule_and_a_missing_answer_as_waited_until_the_end() -> None:
    start, rate = 100.0, 4.0  # arrivals due at 100.0, 100.25, 100.5, 100.75 and 101.0 for 1.25 s
    results = [
        (100.0, 100.0, 100.010, ""),  # on time, 10 ms
        (100.25, 100.5, 100.520, ""),  # sent 250 ms late, 270 ms in all
        (100.5, 100.5, 100.530, "409 amount_exceeded"),
        (101.0, 101.0, 101.040, ""),
    ]  # 100.75 never answered; the wait ended at 102.0

    figures = apply_open_loop.summarise(results, start=start, stopped=102.0, rate=rate, seconds=1.25)

    assert figures["arrivals"] == 5
    assert figures["answered"] == 4
    assert figures["offered"] == 4.0
    assert figures["achieved"] == 3 / 1.25
    assert [round(figures[name], 3) for name in ("p50", "p95", "p99", "max")] == [40.0, 1250.0, 1250.0, 1250.0]
    assert round(figures["wait_max"], 3) == 250.0
    assert round(figures["service_p50"], 3) == 20.0
    assert figures["errors"] == {"409 amount_exceeded": 1, "no answer in time": 1}
