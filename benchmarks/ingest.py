"""Ingest benchmark: concurrent Alertmanager deliveries against the local host over HTTP.

Runs the host as `sre-copilot serve` in its own process (as deployed), then sends
distinct signed deliveries from 50 concurrent senders and prints throughput and
p50/p99 acknowledgement latency, for the embedded SQLite store and for the
Cosmos-protocol emulator (npm @zeit/cosmosdb-server, when installed).

Targets on 2 cores: p99 under 50 ms at 50 concurrent senders; at least 500
alerts per second on the embedded store. Two runs: closed loop (throughput:
every sender sends again as soon as it is answered) and paced (latency: the 50
senders keep a schedule totalling --rate alerts/s, as real Alertmanagers do).
Throughput is also printed per quarter of the run: a delivery's cost must not
grow with the size of its incident, so the last quarter should keep up with the
first.

    python benchmarks/ingest.py [--alerts 3000] [--concurrency 50] [--rate 500] [--store ...]
    python benchmarks/ingest.py --store sqlite --alerts 10000 --rate 0 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from pydantic import SecretStr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.harness import free_port, host  # noqa: E402
from shared.adapters.store import open_store  # noqa: E402
from shared.models.tenant import Tenant  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.tenants.registry import TenantRegistry  # noqa: E402

TOKEN = "bench-token"
COSMOS_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)


def delivery(i: int, services: int) -> bytes:
    service = f"svc-{i % services}"
    alert = {
        "status": "firing",
        "labels": {
            "alertname": f"Alert{i % 7}",
            "service": service,
            "severity": "warning",
            "n": str(i),
        },
        "annotations": {"summary": f"{service} alert {i}"},
        "startsAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": f"{i:016x}",
    }
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "bench",
            "groupKey": f'{{}}:{{n="{i}"}}',
            "groupLabels": {},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager",
            "truncatedAlerts": 0,
            "alerts": [alert],
        }
    ).encode()


@contextmanager
def cosmos_emulator() -> Iterator[str | None]:
    exe = REPO / "node_modules" / ".bin" / "cosmosdb-server"
    if not exe.exists():
        print("cosmos: skipped (run `make test` or `npm ci` to install @zeit/cosmosdb-server)")
        yield None
        return
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def load(
    base: str,
    alerts: int,
    concurrency: int,
    services: int,
    rate: float | None = None,
    duration: float | None = None,
) -> tuple[list[float], list[float], int, float]:
    """Closed loop (each sender sends as soon as it has its answer), or paced at ``rate``.

    Paced senders keep a schedule, as Alertmanager instances do; latency is then
    measured from each delivery's scheduled time, so time spent queued behind a
    slow answer counts (no coordinated omission). Senders stop after ``duration``
    seconds when given. Returns latencies, completion times (from the start),
    errors and the elapsed time.
    """
    url = f"{base}/api/tenants/bench/webhooks/alertmanager"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    bodies = [delivery(i, services) for i in range(alerts)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    latencies: list[float] = []
    done_at: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm-up: the first requests pay for imports and connection set-up.
        for i in range(20):
            async with session.post(url, data=delivery(10**9 + i, services), headers=headers) as r:
                await r.read()

        started = time.perf_counter()

        async def sender(index: int) -> None:
            nonlocal errors
            sent = 0
            while not queue.empty():
                if duration and time.perf_counter() - started >= duration:
                    return
                body = queue.get_nowait()
                due = time.perf_counter()
                if rate:
                    due = started + (sent * concurrency + index) / rate
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                sent += 1
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 202:
                        errors += 1
                finished = time.perf_counter()
                latencies.append(finished - due)
                done_at.append(finished - started)

        await asyncio.gather(*(sender(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, done_at, errors, elapsed


def quarters(done_at: list[float], elapsed: float) -> list[float]:
    """Deliveries answered per second in each quarter of the run."""
    width = elapsed / 4
    counts = [0, 0, 0, 0]
    for moment in done_at:
        counts[min(3, int(moment / width))] += 1
    return [count / width for count in counts]


def run(
    store: str,
    alerts: int,
    concurrency: int,
    services: int,
    rate: float | None,
    duration: float | None = None,
) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        cosmos_emulator() if store == "cosmos" else _none() as cosmos,
    ):
        if store == "cosmos" and cosmos is None:
            return
        env = {
            **os.environ,
            "SRE_COPILOT_HOME": tmp,
            "SRE_COPILOT_STORE": store,
            "SRE_COPILOT_ECHO_MESSAGES": "false",
            "PYTHONWARNINGS": "ignore",
        }
        if cosmos:
            env |= {
                "SRE_COPILOT_COSMOS_ENDPOINT": cosmos,
                "SRE_COPILOT_COSMOS_KEY": COSMOS_KEY,
                "SRE_COPILOT_COSMOS_VERIFY_TLS": "false",
                "SRE_COPILOT_COSMOS_CREATE_IF_MISSING": "true",
            }
        settings = Settings(
            home=Path(tmp),
            store=store,  # type: ignore[arg-type]
            cosmos_endpoint=cosmos or "",
            cosmos_key=SecretStr(COSMOS_KEY),
            cosmos_verify_tls=False,
            cosmos_create_if_missing=True,
        )
        db = open_store(settings)
        TenantRegistry(db).add(
            Tenant(id="bench", tenant_id="bench", name="bench", alertmanager_token=SecretStr(TOKEN))
        )
        db.close()
        with host(env) as base:
            latencies, done_at, errors, elapsed = asyncio.run(
                load(base, alerts, concurrency, services, rate, duration)
            )
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    mode = f"paced at {rate:.0f}/s" if rate else "closed loop"
    sent = len(latencies)
    by_quarter = " / ".join(f"{q:.0f}" for q in quarters(done_at, elapsed))
    print(
        f"{store:>7}: {sent} deliveries in {elapsed:.1f} s, {concurrency} senders, {mode}: "
        f"{sent / elapsed:7.0f} alerts/s, p50 {p50:6.1f} ms, p99 {p99:6.1f} ms, errors {errors}; "
        f"per quarter {by_quarter} alerts/s"
    )


@contextmanager
def _none() -> Iterator[None]:
    yield None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--services", type=int, default=40, help="distinct services (incidents)")
    parser.add_argument("--store", choices=["sqlite", "cosmos", "both"], default="both")
    parser.add_argument(
        "--rate", type=float, default=500.0, help="paced run's total alerts/s (0: skip it)"
    )
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop sending after this many seconds"
    )
    args = parser.parse_args()
    stores = ["sqlite", "cosmos"] if args.store == "both" else [args.store]
    for store in stores:
        alerts = args.alerts if store == "sqlite" else min(args.alerts, 1000)
        duration = args.duration or None
        run(store, alerts, args.concurrency, args.services, None, duration)
        if args.rate and store == "sqlite":
            run(store, alerts, args.concurrency, args.services, args.rate, duration)


if __name__ == "__main__":
    main()
