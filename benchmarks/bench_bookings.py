"""Benchmark: crossing-slot bookings under concurrency against PostgreSQL (issue 4).

Aim: with >= 4 server workers and >= 200 concurrent booking clients, >= 1,000 bookings/s with
p99 < 100 ms; and, whatever the speed, every slot at or under its capacity and every client told
clearly yes (201) or no (409).

Run from the repository root (PostgreSQL must be running):

    .venv/bin/python benchmarks/bench_bookings.py [--workers 4] [--concurrency 200]
        [--shipments 2000] [--duration 30] [--client raw|httpx]

What it does:

1. creates a throw-away database `bf_bench_<random>` on the server given by
   $BORDERFLOW_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
   migrates it and seeds, with direct service calls, a few enterprises (each with one signed-in
   user; an enterprise may hold at most 500 open bookings) and their submitted shipments:
   `--concurrency` "racers" (fresh durian, Chi Ma only, all the same arrival window) and
   `--shipments` others spread over 10 arrival windows (days 2–6 from now, 06:00 or 13:00
   Hanoi time), 7 lists of acceptable crossings (in both orders of preference) and two priority
   classes (perishable durian, regular laptops);
2. starts `borderflow serve --workers N` on a free loopback port;
3. race, one slot: every racer asks at the same instant for the same slot (Chi Ma's first open
   hour of the window: 4 places), so exactly 4 may be told yes;
4. race, earliest available: every racer asks at the same instant for the earliest available
   slot (the 4 winners already hold a booking: no; the others fill the following hours);
5. warm-up: one booking for each (window, crossings, class) of the other shipments, all at once,
   which materialises their slots (the first bookings of a crossing create its slots);
6. throughput: `--concurrency` clients book the other shipments, earliest available, one request
   after another, for `--duration` seconds or until the shipments run out;
7. reference, in the same run: as many GET /healthz at the same concurrency (the server's
   floor: a request and one `SELECT 1`);
8. checks the ledger in the database: no slot over capacity, each slot's `booked` (and
   `booked_perishable`) equal to its active bookings, at most one live booking per shipment,
   and the yes answers are exactly the active bookings;
9. prints bookings/s, p50/p95/p99 latency, yes/no counts of each phase and PASS/FAIL against the
   aim.

Between phases it waits (at most 20 s) until the server has finished the work of requests whose
clients gave up, so that one phase does not slow the next. When clients of a phase get no answer
at all within 35 s (the server stalled), the later phases are skipped unless `--keep-going`.

The load generator shares the cores with the server and PostgreSQL: `--client raw` (default), a
minimal keep-alive HTTP/1.1 client (~0.3 ms of CPU a request), leaves the cores to the server;
`--client httpx` uses httpx.AsyncClient (several ms a request).

Exit status is 1 only when an invariant is broken: a slot over capacity, a ledger that disagrees
with the bookings, a shipment with two live bookings, a yes that booked nothing, or a client not
told clearly yes or no (a 5xx or no answer). Missing the aim is reported, not fatal. The server
is stopped and the database dropped in every case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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
from borderflow.declarations import service as declarations
from borderflow.declarations.schemas import ShipmentCreate
from borderflow.network.capacity import compute_capacity
from borderflow.network.loader import load_network
from borderflow.network.schemas import Direction
from borderflow.queue import ledger
from borderflow.queue.policy import QueuePolicy

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AIM_RATE = 1000.0  # bookings per second
AIM_P99_MS = 100.0
REQUEST_TIMEOUT_S = 35.0  # longer than the server's 30 s pool timeout: its own answer shows
PHASE_CAP_S = 90.0
PASSWORD = "bench-password-not-secret"
PER_ORG = 400  # shipments per enterprise (at most 500 open bookings each)
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
RACE_CROSSING = "chi-ma"  # 4 exports an hour
CROSSING_LISTS = (
    ["huu-nghi", "tan-thanh"],
    ["tan-thanh", "huu-nghi"],
    ["huu-nghi", "chi-ma"],
    ["chi-ma", "huu-nghi"],
    ["huu-nghi"],
    ["tan-thanh", "coc-nam"],
    ["coc-nam", "tan-thanh"],
)
API = "/api/v1"
ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------------------------



def background_load(seconds: float = 1.0) -> float:
    """Cores kept busy by other programs while this script is idle."""

    def busy_total() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total = sum(fields[:8])
        return total - idle, total

    try:
        b0, t0 = busy_total()
        time.sleep(seconds)
        b1, t1 = busy_total()
    except OSError:
        return float("nan")
    return (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------
# Database and server
# --------------------------------------------------------------------------------------------



# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


@dataclass
class Shipment:
    id: str
    token: str
    group: tuple[int, int, int]  # (window, crossing list, perishable) of the throughput set


@dataclass
class Seeded:
    racers: list[Shipment]
    others: list[Shipment]
    slot_start: datetime  # the contested slot
    capacity: int
    orgs: int


def _hanoi(day_offset: int, hour: int) -> datetime:
    day = (datetime.now(HANOI) + timedelta(days=day_offset)).date()
    return datetime.combine(day, dtime(hour, 0), tzinfo=HANOI)


def contested_slot(arrival_from: datetime) -> tuple[datetime, int]:
    start = ledger.align(arrival_from.astimezone(UTC), QueuePolicy())
    table = compute_capacity(
        load_network("lang-son"),
        crossing_id=RACE_CROSSING,
        direction=Direction.export,
        start=start,
        end=start + timedelta(hours=24),
        slot=timedelta(hours=1),
    )
    first = next(s for s in table.slots() if s.capacity > 0 and not s.preregistered_only)
    return first.start, first.capacity


def _body(i: int, crossings: list[str], start: datetime, perishable: bool) -> dict[str, Any]:
    n = i % 100_000
    line: dict[str, Any] = {
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
    if not perishable:
        line = {**line, "hs_code": "847130", "description": "Laptops", "cargo_class": "general"}
        line.pop("shelf_life_hours")
    return {
        "regime": "export",
        "crossings": crossings,
        "arrival_from": start.isoformat(),
        "arrival_to": (start + timedelta(hours=12)).isoformat(),
        "goods": [line],
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
        "phytosanitary_certificate": f"VN-PC-2026-{i:06d}" if perishable else None,
        "origin": "Tien Giang",
    }


def seed(url: str, racers: int, others: int) -> Seeded:
    clock = SystemClock()
    network = load_network("lang-son")
    race_from = _hanoi(2, 6)
    slot_start, capacity = contested_slot(race_from)
    windows = [_hanoi(d, h) for d in range(2, 7) for h in (6, 13)]
    groups = [
        (w, c, p) for w in range(len(windows)) for c in range(len(CROSSING_LISTS)) for p in (1, 0)
    ]
    total = racers + others
    n_orgs = math.ceil(total / PER_ORG)
    engine = make_engine(url)
    out_racers: list[Shipment] = []
    out_others: list[Shipment] = []
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            principals, tokens = [], []
            for k in range(n_orgs):
                org = accounts.create_organisation(
                    session,
                    org_in=OrganisationCreate(
                        name=f"Benchmark exporter {k}",
                        kind=OrganisationKind.enterprise,
                        country="VN",
                        tax_code=f"0100233488-{k + 1:03d}",
                    ),
                    actor="bench",
                    clock=clock,
                )
                user = accounts.create_user(
                    session,
                    user_in=UserCreate(
                        organisation_id=org.id,
                        username=f"bench_booker_{k}",
                        full_name=f"Benchmark booker {k}",
                        password=PASSWORD,
                        roles=[Role.enterprise_user],
                    ),
                    actor="bench",
                    clock=clock,
                )
                principals.append(accounts.principal_for_user(user))
                tokens.append(
                    accounts.login(
                        session, username=user.username, password=PASSWORD, clock=clock
                    )[0]
                )
            for i in range(total):
                k = i // PER_ORG
                if i < racers:
                    group = (-1, -1, 1)
                    body = _body(i, [RACE_CROSSING], race_from, True)
                else:
                    group = groups[(i - racers) % len(groups)]
                    w, c, p = group
                    body = _body(i, CROSSING_LISTS[c], windows[w], bool(p))
                shipment, _ = declarations.create_shipment(
                    session,
                    shipment_in=ShipmentCreate.model_validate(body),
                    principal=principals[k],
                    clock=clock,
                    network=network,
                )
                item = Shipment(str(shipment.id), tokens[k], group)
                (out_racers if i < racers else out_others).append(item)
    finally:
        engine.dispose()
    return Seeded(out_racers, out_others, slot_start, capacity, n_orgs)


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------

Reply = tuple[int, bytes]  # status (0: no answer), body


class RawConnection:
    """A minimal HTTP/1.1 keep-alive connection: the cheapest load generator in Python, so the
    figures show the server rather than the client. Answers must carry a Content-Length."""

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
        if got.get("connection", "").lower() == "close" or status >= 500:
            # After an exception in the app uvicorn closes the connection (Starlette has sent
            # the 500 already, without `Connection: close`): reconnect for the next request.
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


Send = Callable[[str, str, str | None, bytes], Awaitable[Reply]]  # method, path, token, body
Request = tuple[str, str, str | None, bytes, str]  # method, path, token, body, shipment


@dataclass
class Answer:
    shipment: str
    status: int
    body: Any  # parsed JSON, or the error text
    latency: float  # seconds


@dataclass
class Phase:
    name: str
    answers: list[Answer] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: tuple[float, float] | None = None  # CPU seconds of (the server, PostgreSQL)

    @property
    def count(self) -> int:
        return len(self.answers)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        """Nearest-rank percentile in ms."""
        if not self.answers:
            return float("nan")
        ordered = sorted(a.latency for a in self.answers)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000

    def unclear(self, ok: tuple[int, ...] = (201, 409)) -> list[Answer]:
        return [a for a in self.answers if a.status not in ok]

    def line(self) -> str:
        s = self.statuses
        yes_no = (
            f"   yes {s[201]} / no {s[409]} / unclear {sum(s.values()) - s[201] - s[409]}"
            if not self.name.startswith("GET ")
            else ""
        )
        worst = max((a.latency for a in self.answers), default=float("nan")) * 1000
        cpu = (
            f"   CPU/req server {self.cpu[0] / self.count * 1000:5.1f} ms"
            f" + PostgreSQL {self.cpu[1] / self.count * 1000:5.1f} ms"
            if self.cpu and self.count else ""
        )
        return (
            f"{self.name:<26} {self.count:>6} req in {self.elapsed:6.2f} s = "
            f"{self.rate:7.1f}/s   p50 {self.pct(50):7.1f} ms   p95 {self.pct(95):7.1f} ms"
            f"   p99 {self.pct(99):7.1f} ms   max {worst:7.1f} ms{yes_no}{cpu}"
        )


Closer = Callable[[], Awaitable[None]]


def make_sender(kind: str, base: str) -> tuple[Callable[[int], Send], Closer]:
    """A factory of per-client senders and a function closing everything they opened."""
    host, port = base.removeprefix("http://").split(":")
    if kind == "raw":
        conns: list[RawConnection] = []

        def make_raw(_: int) -> Send:
            conn = RawConnection(host, int(port))
            conns.append(conn)

            async def send(method: str, path: str, token: str | None, body: bytes) -> Reply:
                headers = {"Content-Type": "application/json"} if body else {}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                return await conn.request(method, path, headers, body)

            return send

        async def close_raw() -> None:
            for c in conns:
                await c.close()

        return make_raw, close_raw

    clients: list[httpx.AsyncClient] = []

    def make_httpx(_: int) -> Send:
        client = httpx.AsyncClient(
            base_url=base,
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        clients.append(client)

        async def send(method: str, path: str, token: str | None, body: bytes) -> Reply:
            headers = {"Content-Type": "application/json"} if body else {}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            r = await client.request(method, path, headers=headers, content=body or None)
            return r.status_code, r.content

        return send

    async def close_httpx() -> None:
        for c in clients:
            await c.aclose()

    return make_httpx, close_httpx


async def _ask(send: Send, method: str, path: str, token: str | None, body: bytes,
               shipment: str) -> Answer:
    t0 = time.perf_counter()
    try:
        status, raw = await send(method, path, token, body)
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
    except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
        status, parsed = 0, f"{type(exc).__name__}: {exc}"
    return Answer(shipment, status, parsed, time.perf_counter() - t0)


def booking_body(shipment: str, slot_start: datetime | None = None) -> bytes:
    body: dict[str, str] = {"shipment_id": shipment}
    if slot_start is not None:
        body["slot_start"] = slot_start.isoformat()
    return json.dumps(body).encode()


async def all_at_once(
    name: str, makers: Callable[[int], Send], items: list[Shipment],
    slot_start: datetime | None = None,
) -> Phase:
    """One request per item, all released together (each client opens its connection at the
    gate: connections opened ahead would idle past uvicorn's 5 s keep-alive)."""
    phase = Phase(name)
    go = asyncio.Event()

    async def one(k: int, item: Shipment) -> Answer:
        send = makers(k)
        await go.wait()
        return await _ask(send, "POST", f"{API}/bookings", item.token,
                          booking_body(item.id, slot_start), item.id)

    tasks = [asyncio.create_task(one(k, item)) for k, item in enumerate(items)]
    await asyncio.sleep(0.1)  # every task waits at the gate
    t0 = time.perf_counter()
    go.set()
    phase.answers = list(await asyncio.gather(*tasks))
    phase.elapsed = time.perf_counter() - t0
    return phase


async def closed_loop(
    name: str, makers: Callable[[int], Send], concurrency: int, n: int, duration: float,
    request: Callable[[int], Request],
) -> Phase:
    """`concurrency` clients, each sending request i after request i (one at a time) until `n`
    are sent or `duration` passes."""
    phase = Phase(name)
    next_i = 0
    stop_at = time.perf_counter() + min(duration, PHASE_CAP_S)

    async def client(k: int) -> None:
        nonlocal next_i
        send = makers(k)
        while next_i < n and time.perf_counter() < stop_at:
            i = next_i
            next_i += 1
            method, path, token, body, label = request(i)
            phase.answers.append(await _ask(send, method, path, token, body, label))

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    phase.elapsed = time.perf_counter() - t0
    return phase


# --------------------------------------------------------------------------------------------
# The ledger, read back from the database
# --------------------------------------------------------------------------------------------


def ledger_problems(url: str) -> list[str]:
    engine = make_engine(url)
    problems: list[str] = []
    try:
        with engine.connect() as conn:
            for row in conn.execute(text(
                "SELECT id, crossing_id, start, booked, capacity FROM crossing_slots "
                "WHERE booked > capacity OR booked < 0"
            )):
                problems.append(
                    f"slot {row.id} {row.crossing_id} {row.start}: booked {row.booked} > "
                    f"capacity {row.capacity}"
                )
            for row in conn.execute(text(
                "SELECT s.id, s.crossing_id, s.start, s.booked, s.booked_perishable, "
                "  COUNT(b.id) AS active, "
                "  COALESCE(SUM(CASE WHEN b.perishable THEN 1 ELSE 0 END), 0) AS perishable "
                "FROM crossing_slots s LEFT JOIN bookings b "
                "  ON b.slot_id = s.id AND b.status = 'active' "
                "GROUP BY s.id, s.crossing_id, s.start, s.booked, s.booked_perishable "
                "HAVING s.booked <> COUNT(b.id) "
                "  OR s.booked_perishable <> "
                "     COALESCE(SUM(CASE WHEN b.perishable THEN 1 ELSE 0 END), 0)"
            )):
                problems.append(
                    f"slot {row.id} {row.crossing_id} {row.start}: booked {row.booked} "
                    f"({row.booked_perishable} perishable) but {row.active} active bookings "
                    f"({row.perishable} perishable)"
                )
            for row in conn.execute(text(
                "SELECT shipment_id, COUNT(*) AS n FROM bookings "
                "WHERE status IN ('active', 'unplaced') GROUP BY shipment_id HAVING COUNT(*) > 1"
            )):
                problems.append(f"shipment {row.shipment_id} has {row.n} live bookings")
    finally:
        engine.dispose()
    return problems


def active_bookings(url: str) -> dict[str, str]:
    """Booking id -> shipment id of every active booking."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                str(b): str(s)
                for b, s in conn.execute(
                    text("SELECT id, shipment_id FROM bookings WHERE status = 'active'")
                )
            }
    finally:
        engine.dispose()


def free_places(url: str, crossing: str, start: datetime, end: datetime) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(
                text(
                    "SELECT COALESCE(SUM(capacity - booked), 0) FROM crossing_slots "
                    "WHERE crossing_id = :c AND direction = 'export' AND start >= :a "
                    "AND start < :b AND NOT preregistered_only"
                ),
                {"c": crossing, "a": start, "b": end},
            ).scalar_one())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    """`root` and its descendants (the server's supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


class CpuMeter:
    """CPU used by the server's processes and by the PostgreSQL backends serving its database
    (other programs on the machine are not counted): on a shared machine the CPU per request
    compares runs better than wall-clock rates do."""

    def __init__(self, url: str, server_pid: int) -> None:
        self.engine = make_engine(url)
        self.server_pid = server_pid

    def _backends(self) -> list[int]:
        with self.engine.connect() as conn:
            return [int(p) for p in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalars()]

    def sample(self) -> dict[str, dict[int, float]]:
        return {"server": {p: _cpu_seconds(p) for p in _tree(self.server_pid)},
                "pg": {p: _cpu_seconds(p) for p in self._backends()}}

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
             ) -> tuple[float, float]:
        def delta(kind: str) -> float:
            return sum(max(t - before[kind].get(p, 0.0), 0.0) for p, t in after[kind].items())

        return delta("server"), delta("pg")

    def close(self) -> None:
        self.engine.dispose()


def quiesce(url: str, cap: float = 20.0) -> float:
    """Wait until no request of the server is still working in the database (a client that
    gave up does not stop the server's work on its request), at most `cap` seconds."""
    engine = make_engine(url)
    t0 = time.perf_counter()
    try:
        with engine.connect() as conn:
            while time.perf_counter() - t0 < cap:
                busy = conn.execute(text(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'"
                )).scalar_one()
                conn.rollback()
                if not busy:
                    break
                time.sleep(0.25)
    finally:
        engine.dispose()
    return time.perf_counter() - t0


@dataclass
class Result:
    phases: dict[str, Phase | None]  # None: skipped after a stall
    false_no: int  # "no free slot" answers to racers while Chi Ma had places left
    problems: list[str]
    notes: list[str]


def _reason(a: Answer) -> str:
    try:
        return str(a.body["detail"][0]["reason"])
    except (KeyError, IndexError, TypeError):
        return str(a.body)[:200]


RACE_SLOT, RACE_EARLIEST, WARM, BOOK, HEALTH, NO_DB = (
    "race, one slot",
    "race, earliest available",
    "warm-up (slots created)",
    "bookings (earliest avail.)",
    "GET /healthz",
    "GET unknown path (no DB)",
)
NO_DB_PATH = "/bench-no-such-path"  # answered 404 by the router: the stack without the database


async def bench(base: str, server: subprocess.Popen[bytes], url: str, seeded: Seeded,
                args: argparse.Namespace) -> Result:
    await wait_healthy(base, server, timeout=180.0)  # 4 workers start slowly on a busy box
    makers, close = make_sender(args.client, base)
    phases: dict[str, Phase | None] = dict.fromkeys(
        (RACE_SLOT, RACE_EARLIEST, WARM, BOOK, HEALTH, NO_DB))
    notes: list[str] = []

    # Warm-up: the first booking of each group (the first bookings of a crossing and window
    # create its slots); then the throughput phase books the rest.
    firsts: dict[tuple[int, int, int], Shipment] = {}
    for s in seeded.others:
        firsts.setdefault(s.group, s)
    first = list(firsts.values())
    rest = [s for s in seeded.others if s.id not in {f.id for f in first}]

    def booker(items: list[Shipment]) -> Callable[[int], Request]:
        def request(i: int) -> Request:
            s = items[i]
            return "POST", f"{API}/bookings", s.token, booking_body(s.id), s.id

        return request

    def health(i: int) -> Request:
        return "GET", "/healthz", None, b"", ""

    def no_db(i: int) -> Request:
        return "GET", NO_DB_PATH, None, b"", ""

    c = args.concurrency
    runs: list[tuple[str, Callable[[], Awaitable[Phase]]]] = [
        (RACE_SLOT, lambda: all_at_once(RACE_SLOT, makers, seeded.racers, seeded.slot_start)),
        (RACE_EARLIEST, lambda: all_at_once(RACE_EARLIEST, makers, seeded.racers)),
        (WARM, lambda: closed_loop(WARM, makers, c, len(first), PHASE_CAP_S, booker(first))),
        (BOOK, lambda: closed_loop(BOOK, makers, c, len(rest), args.duration, booker(rest))),
        (HEALTH, lambda: closed_loop(HEALTH, makers, c, max(_count(phases[BOOK]), c),
                                     args.duration, health)),
        # The ceiling of the stack here: HTTP, middleware and routing, no database at all.
        (NO_DB, lambda: closed_loop(NO_DB, makers, c, max(_count(phases[BOOK]), 10 * c),
                                    args.duration, no_db)),
    ]
    meter = CpuMeter(url, server.pid)
    try:
        for name, run in runs:
            before = meter.sample()
            phase = phases[name] = await run()
            phase.cpu = CpuMeter.used(before, meter.sample())
            waited = quiesce(url)
            if waited > 1:
                notes.append(f"after {name}: the server still worked {waited:.1f} s on requests"
                             " whose clients had had their answer or given up")
            if any(a.status == 0 for a in phase.answers) and not args.keep_going:
                notes.append(f"{name}: clients got no answer in {REQUEST_TIMEOUT_S:g} s (the "
                             "server stalled): later phases skipped (--keep-going runs them)")
                break
    finally:
        await close()
        meter.close()

    problems: list[str] = []
    race_slot, race_earliest = phases[RACE_SLOT], phases[RACE_EARLIEST]
    false_no = 0
    if race_earliest is not None:
        # Was a racer told "no free slot" while places were left within its horizon?
        left = free_places(url, RACE_CROSSING, seeded.slot_start,
                           seeded.slot_start + QueuePolicy().horizon)
        false_no = sum(1 for a in race_earliest.answers
                       if a.status == 409 and "no free slot" in _reason(a)) if left else 0
    assert race_slot is not None
    # Race, one slot: exactly its capacity told yes, all for that slot (when all were answered).
    yes = [a for a in race_slot.answers if a.status == 201]
    winners = min(seeded.capacity, len(seeded.racers))
    if len(yes) > winners or (len(yes) < winners and not race_slot.unclear()):
        problems.append(f"race, one slot: {len(yes)} yes for {len(seeded.racers)} racers and "
                        f"a slot of {seeded.capacity} places")
    for a in yes:
        start = datetime.fromisoformat(a.body["booking"]["slot_start"].replace("Z", "+00:00"))
        if start != seeded.slot_start:
            problems.append(f"race, one slot: a yes for {start}, not {seeded.slot_start}")
    # Every yes is an active booking in the database and every active booking was a yes (or
    # the answer to a client that gave up).
    answered: dict[str, int] = {}
    said_yes: dict[str, str] = {}
    for name in (RACE_SLOT, RACE_EARLIEST, WARM, BOOK):
        ph = phases[name]
        for a in ph.answers if ph else []:
            answered[a.shipment] = a.status if a.status == 201 else answered.get(
                a.shipment, a.status)
            if a.status == 201:
                said_yes[a.body["booking"]["id"]] = a.shipment
    in_db = active_bookings(url)
    lost = set(said_yes) - set(in_db)
    if lost:
        problems.append(f"{len(lost)} yes answers without an active booking")
    phantom = Counter(answered.get(in_db[b]) for b in set(in_db) - set(said_yes))
    if phantom[0]:
        notes.append(f"{phantom[0]} bookings were made after their client had given up waiting")
    del phantom[0]
    if phantom:
        problems.append(f"bookings made although their client was told {dict(phantom)}")
    problems += ledger_problems(url)
    for name in (RACE_SLOT, RACE_EARLIEST, WARM, BOOK):
        ph = phases[name]
        bad = ph.unclear() if ph else []
        if bad:
            kinds = Counter(
                (a.status, str(a.body)[:90], _bucket(a.latency)) for a in bad
            ).most_common(3)
            problems.append(
                f"{ph.name if ph else name}: {len(bad)} clients not told yes or no "
                f"({dict(Counter(a.status for a in bad))}); "
                + "; ".join(f"{n} × {st} {body!r} {when}" for (st, body, when), n in kinds)
            )
    return Result(phases, false_no, problems, notes)


def _bucket(seconds: float) -> str:
    for limit in (1, 10, 30):
        if seconds < limit:
            return f"in < {limit} s"
    return "in >= 30 s"


def _count(phase: Phase | None) -> int:
    return phase.count if phase else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="server worker processes")
    parser.add_argument("--concurrency", type=int, default=200, help="concurrent clients")
    parser.add_argument("--shipments", type=int, default=2000,
                        help="shipments for the throughput phase (racers come on top)")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="at most this many seconds of bookings (and of /healthz)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="load generator: a minimal HTTP/1.1 client (default) or httpx")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every phase even after the server stalled")
    args = parser.parse_args()
    if args.workers < 1 or args.concurrency < 1 or not 0 < args.duration <= PHASE_CAP_S:
        parser.error(f"workers and concurrency must be >= 1, duration in (0, {PHASE_CAP_S:g}]")
    if not 200 <= args.shipments <= 20_000:
        parser.error("--shipments must be in 200..20000")

    admin_url = os.environ.get("BORDERFLOW_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    print("borderflow bookings benchmark (issue 4)")
    print(
        f"machine: {os.cpu_count()} cores ({cpu_model()}), python {platform.python_version()}"
        f", {platform.system()} {platform.release()}"
    )
    pg = make_url(admin_url)
    print(
        f"parameters: workers {args.workers}, concurrency {args.concurrency}, "
        f"{args.concurrency} racers + {args.shipments} shipments, at most {args.duration:g} s "
        f"of bookings, client {args.client}, PostgreSQL at {pg.host}:{pg.port}"
    )
    print(
        f"aim: >= {AIM_RATE:.0f} bookings/s with p99 < {AIM_P99_MS:.0f} ms; no slot over "
        "capacity; every client told yes or no"
    )
    idle = background_load()
    print(
        f"background load before the run: {idle:.2f} cores busy"
        + ("  WARNING: other programs are using the CPU, figures are low" if idle > 0.2 else "")
    )

    server: subprocess.Popen[bytes] | None = None
    db_name: str | None = None
    tmp = tempfile.TemporaryDirectory(prefix="bf_bench_")
    log = Path(tmp.name) / "server.log"
    try:
        db_name, url = create_database(admin_url)
        upgrade(url)
        t0 = time.perf_counter()
        seeded = seed(url, args.concurrency, args.shipments)
        print(
            f"seeded {len(seeded.racers) + len(seeded.others)} shipments for {seeded.orgs} "
            f"enterprises in {time.perf_counter() - t0:.1f} s; contested slot "
            f"{RACE_CROSSING} {seeded.slot_start:%Y-%m-%d %H:%M} UTC, {seeded.capacity} places"
        )
        port = free_port()
        server = start_server(url, port, args.workers, log, Path(tmp.name))
        result = asyncio.run(bench(f"http://127.0.0.1:{port}", server, url, seeded, args))
        server_log = log.read_text(errors="replace")
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

    print()
    for name, ph in result.phases.items():
        print(ph.line() if ph else f"{name:<26} skipped")
    b, h = result.phases[BOOK], result.phases[HEALTH]
    booked_rate = b.statuses[201] / b.elapsed if b and b.elapsed else 0.0
    b_p99 = b.pct(99) if b else float("nan")
    if b and h:
        print(
            f"bookings made: {booked_rate:.1f}/s ({b.statuses[201]} yes in {b.elapsed:.2f} s);"
            f" bookings / healthz throughput: {b.rate / h.rate if h.rate else float('nan'):.2f}"
            " (healthz is the reference floor: request + SELECT 1)"
        )
    n = result.phases[NO_DB]
    if n and n.rate:
        print(
            f"stack ceiling (no database): {n.rate:.0f} requests/s, p99 {n.pct(99):.1f} ms at "
            f"{args.concurrency} clients; a closed loop of {args.concurrency} clients at p99 < "
            f"{AIM_P99_MS:.0f} ms needs >= {args.concurrency / (AIM_P99_MS / 1000):.0f}/s "
            "(Little's law)"
        )
    if result.false_no:
        print(
            f"note: {result.false_no} racers were told 'no free slot within the horizon' while "
            f"{RACE_CROSSING} still had free places (earliest available tries at most 25 slots "
            "of a snapshot taken before the others' bookings)"
        )
    for note in result.notes:
        print(f"note: {note}")
    errors = server_log.count("Traceback")
    if errors:
        kinds = Counter(
            line.split(":", 1)[0]
            for line in server_log.splitlines()
            if line and not line.startswith((" ", "\t", "INFO", "WARNING", "The above"))
            and ("Error" in line.split(":", 1)[0] or "Detected" in line.split(":", 1)[0])
        )
        print(f"server log: {errors} tracebacks, the errors: {dict(kinds.most_common(5))}")
    no_reasons = Counter(_reason(a) for a in (b.answers if b else []) if a.status == 409)
    if no_reasons:
        print(f"'no' answers in the throughput phase: {dict(no_reasons.most_common(3))}")

    print()
    print(f"invariants: {'OK' if not result.problems else 'BROKEN'}")
    for p in result.problems[:20]:
        print(f"  {p}")
    rate_ok = booked_rate >= AIM_RATE
    p99_ok = b_p99 < AIM_P99_MS
    verdict = "PASS" if rate_ok and p99_ok and not result.problems else "FAIL"
    print(
        f"aim: {booked_rate:.0f} bookings/s {'>=' if rate_ok else '<'} {AIM_RATE:.0f}/s, "
        f"p99 {b_p99:.1f} ms {'<' if p99_ok else '>='} {AIM_P99_MS:.0f} ms at "
        f"{args.concurrency} clients: {verdict}"
    )
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
