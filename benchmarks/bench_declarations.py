"""Benchmark: declarations created per second against PostgreSQL (issue 3).

Aim: >= 500 declarations/s with p99 < 100 ms on a 2-core machine, with the real server
(`borderflow serve --workers N`) and concurrent clients.

Run from the repository root (PostgreSQL must be running):

    .venv/bin/python benchmarks/bench_declarations.py [--workers 2] [--concurrency 32]
        [--duration 20 | --requests N] [--client httpx|raw]

What it does:

1. creates a throw-away database `bf_bench_<random>` on the server given by
   $BORDERFLOW_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
   migrates it, seeds one enterprise and one enterprise user, and signs the user in;
2. starts `borderflow serve --workers N` on a free loopback port;
3. load: `--concurrency` clients POST /api/v1/shipments (each a valid declaration with its own
   plate, driver and Idempotency-Key) for `--duration` seconds or `--requests` requests, after
   a warm-up;
4. reference, in the same run: the same number of GET /healthz (the server's floor: a request
   and one `SELECT 1`, no declaration);
5. correctness: shipments in the database == 201 answers (warm-up included), one goods line and
   one revision each, and retrying 50 of the created declarations with the same
   Idempotency-Keys and bodies creates nothing new (200 + Idempotent-Replayed);
6. prints the machine, the parameters, throughput, p50/p95/p99 latency, where the CPU went
   (from /proc: this script, the server's processes, PostgreSQL's, and "other" = programs
   outside the benchmark), the CPU-bound ceiling that follows if the machine were ours alone,
   and PASS/FAIL against the aim.

The load generator shares the cores with the server and PostgreSQL. httpx.AsyncClient (the
default) costs several ms of CPU per request; `--client raw` (a minimal keep-alive HTTP/1.1
client) costs ~0.3 ms and leaves the cores to the server.

Exit status is 1 only when correctness fails; missing the aim is reported, not fatal. The server
is stopped and the database dropped in every case. `docs/benchmarks.md` records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from harness import (
    cpu_model,
    create_database,
    drop_database,
    free_port,
    start_server,
    stop_server,
    wait_healthy,
)
from sqlalchemy import make_url, text

from borderflow.accounts import service as accounts
from borderflow.accounts.roles import OrganisationKind, Role
from borderflow.accounts.schemas import OrganisationCreate, UserCreate
from borderflow.clock import SystemClock
from borderflow.db import make_engine, make_sessionmaker, session_scope, upgrade

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AIM_RATE = 500.0  # declarations per second
AIM_P99_MS = 100.0
REPLAYS = 50
PHASE_CAP_S = 90.0  # every phase stops by itself, even with --requests
REQUEST_TIMEOUT_S = 30.0
USERNAME = "bench_exporter"
PASSWORD = "bench-password-not-secret"
ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Machine and CPU accounting (read-only /proc)
# --------------------------------------------------------------------------------------------



def system_busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def background_load(seconds: float = 1.0) -> float:
    """Cores kept busy by other programs while this script is idle (a shared machine skews the
    figures; the report says so)."""
    b0, t0 = system_busy_ticks()
    time.sleep(seconds)
    b1, t1 = system_busy_ticks()
    return (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


def _proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, utime+stime jiffies, comm) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12]), comm


def _all_stats() -> dict[int, tuple[int, int, str]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st is not None:
                out[int(entry)] = st
    return out


def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


@dataclass
class CpuSample:
    busy: int
    total: int
    client: float  # seconds of this process
    server: int  # jiffies of the server's process tree
    postgres: dict[int, int]  # jiffies of each process named postgres
    wall: float


def cpu_sample(server_pid: int) -> CpuSample:
    busy, total = system_busy_ticks()
    stats = _all_stats()
    server = sum(stats[p][1] for p in tree_pids(server_pid) if p in stats)
    pg = {pid: ticks for pid, (_, ticks, comm) in stats.items() if comm.startswith("postgres")}
    return CpuSample(busy, total, time.process_time(), server, pg, time.perf_counter())


def cpu_report(a: CpuSample, b: CpuSample, requests: int) -> str:
    """Where the CPU went between two samples, in ms of CPU per request and in cores."""
    wall = b.wall - a.wall
    busy = (b.busy - a.busy) / CLK_TCK
    client = b.client - a.client
    server = (b.server - a.server) / CLK_TCK
    # Backends come and go: count what each one present at the end used since the start.
    pg = sum(max(t - a.postgres.get(pid, 0), 0) for pid, t in b.postgres.items()) / CLK_TCK
    rest = max(busy - client - server - pg, 0.0)
    n = max(requests, 1)
    parts = [("load generator", client), ("server", server), ("postgres", pg), ("other", rest)]
    shown = ", ".join(
        f"{name} {sec / n * 1000:.2f} ms ({sec / wall:.2f} cores)" for name, sec in parts
    )
    ours = (client + server + pg) / n
    cores = os.cpu_count() or 1
    ceiling = cores / ours if ours else float("inf")
    return (
        f"CPU per request: {shown}; machine busy {busy / wall:.2f} of {cores} cores\n"
        f"  CPU-bound ceiling with the machine to ourselves: {cores} cores / "
        f"{ours * 1000:.2f} ms (load generator + server + postgres) = {ceiling:.0f}/s"
    )


# --------------------------------------------------------------------------------------------
# Database and server
# --------------------------------------------------------------------------------------------



def seed(url: str) -> None:
    """One enterprise and one of its users (argon2 with the library's defaults, once)."""
    clock = SystemClock()
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            org = accounts.create_organisation(
                session,
                org_in=OrganisationCreate(
                    name="Lan Fresh Fruit JSC (benchmark)",
                    kind=OrganisationKind.enterprise,
                    country="VN",
                    tax_code="0100233488",
                ),
                actor="bench",
                clock=clock,
            )
            accounts.create_user(
                session,
                user_in=UserCreate(
                    organisation_id=org.id,
                    username=USERNAME,
                    full_name="Benchmark exporter",
                    password=PASSWORD,
                    roles=[Role.enterprise_user],
                ),
                actor="bench",
                clock=clock,
            )
    finally:
        engine.dispose()


def count_rows(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("shipments", "goods_lines", "shipment_revisions", "audit_log")
            }
    finally:
        engine.dispose()



# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


class Declarations:
    """Valid declarations, each with its own plate, driver and Idempotency-Key.

    The body of request i is always the same (fixed arrival window), so a retry with key i is a
    true replay.
    """

    def __init__(self, run: str) -> None:
        start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        self.run = run
        self.arrival_from = start.isoformat()
        self.arrival_to = (start + timedelta(hours=12)).isoformat()

    def key(self, i: int) -> str:
        return f"bench-{self.run}-{i}"

    def body(self, i: int) -> bytes:
        n = i % 100_000
        return json.dumps(
            {
                "regime": "export",
                "crossings": ["huu-nghi", "chi-ma"],
                "arrival_from": self.arrival_from,
                "arrival_to": self.arrival_to,
                "goods": [
                    {
                        "hs_code": "08106000",
                        "description": "Fresh durian (Ri6)",
                        "quantity": "18000",
                        "unit": "KGM",
                        "gross_weight_kg": "19500",
                        "value": "54000",
                        "currency": "USD",
                        "cargo_class": "fresh_fruit",
                        "shelf_life_hours": 216,
                    }
                ],
                "vehicle": {
                    "plate": f"63C-{n // 100:03d}.{n % 100:02d}",
                    "trailer_plate": "63R-012.34",
                    "containers": ["CSQU3054383"],
                },
                "driver": {
                    "name": f"Driver {i}",
                    "id_number": f"0010{i:08d}",
                    "phone": "0912345678",
                    "nationality": "VN",
                },
                "phytosanitary_certificate": f"VN-PC-2026-{i:06d}",
                "origin": "Tien Giang",
            }
        ).encode()


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    succeeded: list[int] = field(default_factory=list)  # request numbers answered `ok`
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        """Nearest-rank percentile in ms."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<13} {self.count:>7} req in {self.elapsed:6.2f} s = "
            f"{self.rate:8.1f}/s   p50 {self.pct(50):6.1f} ms   p95 {self.pct(95):6.1f} ms"
            f"   p99 {self.pct(99):6.1f} ms   max {max(self.latencies) * 1000:6.1f} ms"
        )


Reply = tuple[int, dict[str, str], bytes]  # status, headers (lower-case names), body
Send = Callable[[int], Awaitable[Reply]]


class RawConnection:
    """A minimal HTTP/1.1 keep-alive connection: the cheapest load generator in Python, so the
    figures show the server rather than the client (`--client raw`). Answers must carry a
    Content-Length (uvicorn's JSON answers do)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Reply:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                if self.writer is None or self.reader is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                head += f"Content-Length: {len(body)}\r\n\r\n"
                self.writer.write(head.encode() + body)
                raw = await self.reader.readuntil(b"\r\n\r\n")
                lines = raw.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                got = {}
                for line in lines[1:]:
                    if line:
                        k, _, v = line.partition(":")
                        got[k.strip().lower()] = v.strip()
                data = await self.reader.readexactly(int(got.get("content-length", "0")))
        except BaseException:
            await self.close()  # the next request reconnects
            raise
        if got.get("connection", "").lower() == "close":
            await self.close()
        return status, got, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def run_phase(
    name: str,
    concurrency: int,
    senders: Callable[[int], Send],
    *,
    requests: int | None,
    duration: float | None,
    ok: int,
    start_index: int = 0,
) -> Phase:
    """`concurrency` clients, client k with its own `senders(k)`, call it with request numbers
    until `requests` are sent or `duration` passes."""
    phase = Phase(name)
    next_i = start_index
    stop_at = time.perf_counter() + min(duration or PHASE_CAP_S, PHASE_CAP_S)
    end_i = start_index + requests if requests is not None else None

    async def one_client(k: int) -> None:
        nonlocal next_i
        send = senders(k)
        while True:
            if (end_i is not None and next_i >= end_i) or time.perf_counter() >= stop_at:
                return
            i = next_i
            next_i += 1
            t0 = time.perf_counter()
            try:
                status, _, body = await send(i)
                detail = body.decode(errors="replace")
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                status, detail = 0, f"{type(exc).__name__}: {exc}"
            phase.latencies.append(time.perf_counter() - t0)
            phase.statuses[status] += 1
            if status == ok:
                phase.succeeded.append(i)
            if status != ok and len(phase.errors) < 10:
                phase.errors.append(f"#{i} {status}: {detail[:300]}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(k) for k in range(concurrency)))
    phase.elapsed = time.perf_counter() - t0
    return phase


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    decl: Phase
    health: Phase
    decl_cpu: str
    health_cpu: str
    created: int  # 201s over the whole run (warm-up included)
    rows: dict[str, int]
    replay_statuses: Counter[int]
    replay_flagged: int
    rows_after_replay: int


async def bench(
    base: str, server: subprocess.Popen[bytes], url: str, args: argparse.Namespace
) -> Result:
    await wait_healthy(base, server)
    decls = Declarations(secrets.token_hex(3))
    host, port = base.removeprefix("http://").split(":")
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    raw_conns: dict[int, RawConnection] = {}  # client slot -> its connection, across phases
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:
        token = await client.post(
            "/api/v1/auth/token", data={"username": USERNAME, "password": PASSWORD}
        )
        token.raise_for_status()
        headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "Content-Type": "application/json",
        }

        def sender(kind: str) -> Callable[[int], Send]:
            """A factory of per-client senders of declarations or health checks."""

            def make(slot: int) -> Send:
                if args.client == "raw":
                    conn = raw_conns.setdefault(slot, RawConnection(host, int(port)))

                    async def raw_send(i: int) -> Reply:
                        if kind == "health":
                            return await conn.request("GET", "/healthz", {})
                        h = {**headers, "Idempotency-Key": decls.key(i)}
                        return await conn.request("POST", "/api/v1/shipments", h, decls.body(i))

                    return raw_send

                async def httpx_send(i: int) -> Reply:
                    if kind == "health":
                        r = await client.get("/healthz")
                    else:
                        h = {**headers, "Idempotency-Key": decls.key(i)}
                        r = await client.post("/api/v1/shipments", content=decls.body(i), headers=h)
                    return r.status_code, dict(r.headers), r.content

                return httpx_send

            return make

        c = args.concurrency
        try:
            # Warm-up: open the connections, start each worker's DB pool, load lazy data.
            warm_n = max(4 * c, 100)
            await run_phase("warm-up", c, sender("health"), requests=warm_n, duration=None, ok=200)
            warm = await run_phase(
                "warm-up", c, sender("declare"), requests=warm_n, duration=None, ok=201
            )
            created = warm.statuses[201]

            a = cpu_sample(server.pid)
            decl = await run_phase(
                "declarations",
                c,
                sender("declare"),
                requests=args.requests,
                duration=None if args.requests else args.duration,
                ok=201,
                start_index=warm_n,
            )
            b = cpu_sample(server.pid)
            created += decl.statuses[201]
            health = await run_phase(
                "GET /healthz", c, sender("health"), requests=decl.count, duration=None, ok=200
            )
            end = cpu_sample(server.pid)
        finally:
            for conn in raw_conns.values():
                await conn.close()

        rows = count_rows(url)
        # Replays: the same keys and bodies as 50 earlier requests must create nothing new.
        replay_ids = sorted(decl.succeeded)[:REPLAYS]
        replies = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/shipments",
                    content=decls.body(i),
                    headers={**headers, "Idempotency-Key": decls.key(i)},
                )
                for i in replay_ids
            )
        )
        replay_statuses = Counter(r.status_code for r in replies)
        flagged = sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies)
        after = count_rows(url)["shipments"]

    return Result(
        decl,
        health,
        cpu_report(a, b, decl.count),
        cpu_report(b, end, health.count),
        created,
        rows,
        replay_statuses,
        flagged,
        after,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="load generator: httpx.AsyncClient (default) or a minimal HTTP/1.1 client that "
        "leaves more of the shared CPU to the server",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="seconds of declarations (ignored with --requests)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="a fixed number of declarations instead of a duration",
    )
    args = parser.parse_args()
    if args.workers < 1 or args.concurrency < 1 or not 0 < args.duration <= 90:
        parser.error("workers and concurrency must be >= 1, duration in (0, 90] s")
    if args.requests is not None and not 1 <= args.requests <= 100_000:
        parser.error("--requests must be in 1..100000")

    admin_url = os.environ.get("BORDERFLOW_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    print("borderflow declarations benchmark (issue 3)")
    print(
        f"machine: {os.cpu_count()} cores ({cpu_model()}), python {platform.python_version()}"
        f", {platform.system()} {platform.release()}"
    )
    mode = (
        f"{args.requests} requests (at most {PHASE_CAP_S:g} s)"
        if args.requests
        else f"{args.duration:g} s"
    )
    print(
        f"parameters: workers {args.workers}, concurrency {args.concurrency}, {mode}, "
        f"client {args.client}, "
        f"PostgreSQL at {make_url(admin_url).host}:{make_url(admin_url).port}"
    )
    print(f"aim: >= {AIM_RATE:.0f} declarations/s with p99 < {AIM_P99_MS:.0f} ms")
    idle_load = background_load()
    print(
        f"background load before the run: {idle_load:.2f} cores busy"
        + (
            "  WARNING: other programs are using the CPU, figures are low"
            if idle_load > 0.2
            else ""
        )
    )

    server: subprocess.Popen[bytes] | None = None
    db_name: str | None = None
    tmp = tempfile.TemporaryDirectory(prefix="bf_bench_")
    log = Path(tmp.name) / "server.log"
    try:
        db_name, url = create_database(admin_url)
        upgrade(url)
        seed(url)
        port = free_port()
        server = start_server(url, port, args.workers, log, Path(tmp.name))
        result = asyncio.run(bench(f"http://127.0.0.1:{port}", server, url, args))
        server_log = log.read_text(errors="replace")
        restarts = server_log.count("] died") + server_log.count("not ready in time")
    except BaseException:
        if log.exists() and log.stat().st_size:
            print("--- server log (tail) ---", file=sys.stderr)
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if server is not None:
            stop_server(server)
        if db_name is not None:
            drop_database(admin_url, db_name)
        tmp.cleanup()

    d, h = result.decl, result.health
    print()
    print(d.line())
    print(f"  {result.decl_cpu}")
    print(h.line())
    print(f"  {result.health_cpu}")
    if restarts:
        print(
            f"note: uvicorn's supervisor restarted {restarts} worker(s): no answer to its 5 s "
            "health ping, usually while a worker is still starting on a loaded machine"
        )
    print(
        f"declarations / healthz throughput: {d.rate / h.rate:.2f} "
        f"(healthz is the reference floor: request + SELECT 1)"
    )
    for ph in (d, h):
        if ph.errors:
            print(
                f"{ph.name}: {sum(v for k, v in ph.statuses.items() if k not in (200, 201))}"
                f" errors, statuses {dict(ph.statuses)}; first ones:"
            )
            for e in ph.errors:
                print(f"  {e}")

    print()
    problems = []
    if result.rows["shipments"] != result.created:
        problems.append(
            f"{result.rows['shipments']} shipments in the database, {result.created} answered 201"
        )
    for table in ("goods_lines", "shipment_revisions"):
        if result.rows[table] != result.rows["shipments"]:
            problems.append(
                f"{result.rows[table]} {table} for {result.rows['shipments']} "
                "shipments (one each expected)"
            )
    n_replay = sum(result.replay_statuses.values())
    if result.replay_statuses != Counter({200: n_replay}) or result.replay_flagged != n_replay:
        problems.append(
            f"replays answered {dict(result.replay_statuses)}, "
            f"{result.replay_flagged} flagged Idempotent-Replayed"
        )
    if result.rows_after_replay != result.rows["shipments"]:
        problems.append(
            f"replays created {result.rows_after_replay - result.rows['shipments']} shipments"
        )
    print(
        f"correctness: {result.rows['shipments']} shipments in the database for "
        f"{result.created} answers 201; {n_replay} replays -> {dict(result.replay_statuses)}"
        f", shipments after replays {result.rows_after_replay}: "
        f"{'OK' if not problems else 'FAILED'}"
    )
    for p in problems:
        print(f"  {p}")

    errors = d.count - d.statuses[201]
    rate_ok = d.rate >= AIM_RATE
    p99_ok = d.pct(99) < AIM_P99_MS
    verdict = "PASS" if rate_ok and p99_ok and not errors else "FAIL"
    print(
        f"aim: {d.rate:.0f}/s {'>=' if rate_ok else '<'} {AIM_RATE:.0f}/s, "
        f"p99 {d.pct(99):.1f} ms {'<' if p99_ok else '>='} {AIM_P99_MS:.0f} ms, "
        f"{errors} errors: {verdict}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
