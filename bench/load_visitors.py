"""Load: 1,000 concurrent visitor sockets and 100 operators across two Daphne processes.

What one run does:

1. starts a private redis-server and two Daphne processes (the product's ASGI app and settings)
   on free ports, against the database of DATABASE_URL (created and migrated if missing);
2. creates one site, one chat queue, --operators operators with room for --visitors /
   --operators chats each, and --visitors engagements already answered by them (in bulk);
3. opens every operator socket and every visitor socket, alternating between the two Daphne
   processes, so most conversations cross processes through Redis;
4. for --warmup then --duration seconds every visitor sends a message every --interval seconds,
   each on a timetable of its own (phases spread at random), and the owning operator answers each
   one at once; the warm-up's lines count for loss and duplicates, not in the latency figures
   (they are printed apart): the servers' first seconds after every socket connected at once;
5. stops sending, waits for stragglers (until every delivery arrived or none came for --drain
   seconds), and checks that every message reached each socket it
   was meant for exactly once: the visitor's message both consoles it belongs on (the owner's
   and the visitor's own echo), the operator's answer both as well.

Printed: connect times, messages sent and stored, missing and duplicated deliveries, error
frames, delivery latency p50/p95/p99/max (send to the other party's socket) and its p99 per 5 s
of sending (a slow patch that recovers, or a backlog that only drains once the load stops), how
busy the whole machine and this load generator itself were while sending, the CPU and memory of
each Daphne and of Redis, and the command to reproduce. (`/usr/bin/time` on this script counts
the Daphnes and Redis too: they are its children.)

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_bench \\
        .venv/bin/python bench/load_visitors.py --visitors 1000 --operators 100 --duration 300
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=1000, help="concurrent visitor sockets (default 1000)")
    parser.add_argument("--operators", type=int, default=100, help="operator sockets (default 100)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of sending (default 300)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=5,
        help="seconds of sending before those, checked for loss but not in the latency figures (default 5)",
    )
    parser.add_argument("--interval", type=float, default=20, help="seconds between a visitor's messages (default 20)")
    parser.add_argument("--daphnes", type=int, default=2, help="Daphne processes (default 2)")
    parser.add_argument("--conn-max-age", default="0", help="CONN_MAX_AGE of the Daphne processes (default 0)")
    parser.add_argument("--drain", type=float, default=30, help="give up on stragglers after this many quiet seconds")
    return parser.parse_args()


# --- processes ----------------------------------------------------------------------------------


def prepare_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True, env=os.environ)


def start_daphne(port: int, env: dict) -> subprocess.Popen:
    log = open(f"/tmp/load-daphne-{port}.log", "w")  # noqa: SIM115 (lives as long as the process)
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "helpdesk.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- data ---------------------------------------------------------------------------------------


def create_desk(visitors: int, operators: int) -> tuple[list[dict], list[dict]]:
    """Operators (sign-in sessions) and routed engagements (visitor tokens), in the bench database."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from helpdesk.models import Availability, Engagement, Media, Operator, Ownership, Queue, Site, Team, Visitor
    from helpdesk.services.presence import ensure_availabilities
    from helpdesk.visitor_tokens import make_visitor_token

    stamp = time.strftime("%Y%m%d%H%M%S")
    site = Site.objects.create(name=f"Load {stamp}")
    team = Team.objects.create(site=site, name="Load team")
    queue = Queue.objects.create(site=site, name="Load queue", media=Media.CHAT)
    queue.teams.set([team])
    capacity = -(-visitors // operators)
    operator_rows = []
    User = get_user_model()
    for i in range(operators):
        user = User.objects.create(username=f"load-{stamp}-{i}")
        operator = Operator.objects.create(user=user, site=site, display_name=f"Load operator {i}")
        operator.teams.set([team])
        ensure_availabilities(operator=operator)
        Availability.objects.filter(operator=operator, media=Media.CHAT).update(
            status=Availability.Status.AVAILABLE, capacity=capacity
        )
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        operator_rows.append({"id": operator.pk, "session": session.session_key})
    # Engagements are written in bulk, already answered (as routing leaves them): the run is about
    # the sockets, and routing 1,000 chats one by one takes minutes on a busy machine.
    now = timezone.now()
    visitor_objects = Visitor.objects.bulk_create([Visitor(name=f"Load visitor {i}") for i in range(visitors)])
    owners = [operator_rows[i % operators]["id"] for i in range(visitors)]
    engagements = Engagement.objects.bulk_create(
        [
            Engagement(
                site=site,
                queue=queue,
                visitor=visitor,
                media=Media.CHAT,
                state=Engagement.State.ACTIVE,
                owner_id=owner,
                queued_at=now,
                answered_at=now,
            )
            for visitor, owner in zip(visitor_objects, owners, strict=True)
        ]
    )
    Ownership.objects.bulk_create(
        [
            Ownership(engagement=e, operator_id=e.owner_id, started_at=now, started_because=Ownership.Start.ROUTED)
            for e in engagements
        ]
    )
    for row in operator_rows:
        Availability.objects.filter(operator_id=row["id"], media=Media.CHAT).update(load=owners.count(row["id"]))
    visitors_rows = [
        {
            "engagement_id": e.pk,
            "owner_id": e.owner_id,
            "token": make_visitor_token(engagement_id=e.pk, visitor_id=e.visitor_id),
        }
        for e in engagements
    ]
    return operator_rows, visitors_rows


# --- sockets ------------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.sent: dict[str, tuple[float, set[str]]] = {}  # message key -> (sent at, recipients expected)
        self.received: dict[str, Counter] = defaultdict(Counter)  # message key -> recipient -> count
        self.latency: list[float] = []  # send to the other party
        self.errors: Counter = Counter()
        self.connect_times: list[float] = []
        self.sending = False
        self.drain_seconds = 0.0
        self.connect_all = 0.0
        self.cross = 0
        self.latency_by_send_time: list[tuple[float, float]] = []
        self.measured_from = 0.0  # lines sent before this are the warm-up's
        self.sending_cpu = (0.0, 0.0, 0.0)  # while sending: seconds, this process's CPU, the machine's busy CPU

    def expect(self, key: str, recipients: set[str]) -> None:
        self.sent[key] = (time.monotonic(), recipients)

    def got(self, key: str, recipient: str, other_party: bool) -> None:
        self.received[key][recipient] += 1
        if other_party and self.received[key][recipient] == 1 and key in self.sent:
            self.latency.append(time.monotonic() - self.sent[key][0])
            self.latency_by_send_time.append((self.sent[key][0], self.latency[-1]))


class Socket:
    """One WebSocket; `handle(frame)` is called for every frame. No reconnect: a drop is an error."""

    def __init__(self, session, url: str, name: str, origin: str, cookies=None):
        self.session, self.url, self.name, self.origin, self.cookies = session, url, name, origin, cookies
        self.ws = None
        self.handle = lambda frame: None
        self.hello = asyncio.Event()

    async def open(self, stats: Stats) -> None:
        started = time.monotonic()
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in (self.cookies or {}).items())} if self.cookies else None
        self.ws = await self.session.ws_connect(self.url, origin=self.origin, headers=headers, heartbeat=None)
        asyncio.create_task(self.read(stats))
        await asyncio.wait_for(self.hello.wait(), 60)
        stats.connect_times.append(time.monotonic() - started)

    async def read(self, stats: Stats) -> None:
        import aiohttp

        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            if frame.get("type") == "hello":
                self.hello.set()
            elif frame.get("type") == "error":
                stats.errors[frame.get("code")] += 1
            self.handle(frame)
        if not getattr(self, "closing", False):
            stats.errors["socket_closed"] += 1

    async def send(self, frame: dict) -> None:
        await self.ws.send_str(json.dumps(frame))


async def run_load(args, urls: list[str], operators: list[dict], visitors: list[dict]) -> Stats:
    import aiohttp

    stats = Stats()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        operator_sockets: dict[int, Socket] = {}
        for i, row in enumerate(operators):
            base = urls[i % len(urls)]
            operator_sockets[row["id"]] = Socket(
                session,
                base.replace("http", "ws", 1) + "/ws/operator/",
                f"op{row['id']}",
                base,
                cookies={"sessionid": row["session"]},
            )
        visitor_sockets: dict[int, Socket] = {}
        for i, row in enumerate(visitors):
            # Visitors go to the other process than their operator whenever the owner's index allows.
            base = urls[(i + 1) % len(urls)]
            visitor_sockets[row["engagement_id"]] = Socket(
                session,
                base.replace("http", "ws", 1) + f"/ws/visitor/{row['token']}/",
                f"v{row['engagement_id']}",
                base,
            )
        owner_of = {row["engagement_id"]: row["owner_id"] for row in visitors}
        cross = sum(
            1
            for i, row in enumerate(visitors)
            if visitor_sockets[row["engagement_id"]].origin != operator_sockets[row["owner_id"]].origin
        )

        def on_operator_frame(operator_id: int, socket: Socket):
            def handle(frame: dict) -> None:
                if frame.get("type") != "message":
                    return
                key = frame["body"].split(" ", 1)[0]
                stats.got(key, socket.name, other_party=frame["sender"] == "visitor")
                if frame["sender"] == "visitor" and stats.sending:
                    reply = "r" + key[1:]
                    engagement_id = frame["engagement_id"]
                    stats.expect(reply, {socket.name, f"v{engagement_id}"})
                    asyncio.create_task(
                        socket.send({"type": "message.send", "engagement_id": engagement_id, "body": f"{reply} ok"})
                    )

            return handle

        def on_visitor_frame(socket: Socket):
            def handle(frame: dict) -> None:
                if frame.get("type") != "message":
                    return
                key = frame["body"].split(" ", 1)[0]
                stats.got(key, socket.name, other_party=frame["sender"] == "operator")

            return handle

        for operator_id, socket in operator_sockets.items():
            socket.handle = on_operator_frame(operator_id, socket)
        for socket in visitor_sockets.values():
            socket.handle = on_visitor_frame(socket)

        t0 = time.monotonic()
        await gather_in_batches([s.open(stats) for s in operator_sockets.values()], 50)
        await gather_in_batches([s.open(stats) for s in visitor_sockets.values()], 100)
        connect_all = time.monotonic() - t0
        print(
            f"connected {len(operator_sockets)} operators and {len(visitor_sockets)} visitors in {connect_all:.1f}s "
            f"({cross} of {len(visitors)} conversations cross processes)",
            flush=True,
        )
        stats.connect_all, stats.cross = connect_all, cross

        stats.sending = True
        counter = 0

        async def visitor_loop(engagement_id: int, socket: Socket, phase: float) -> None:
            """Each visitor on a timetable of its own: its k-th line is due at phase + k × interval.

            Sleeping `interval` after each send instead let any pause of this process (one garbage
            collection of its growing bookkeeping, ~100 ms) gather every visitor it delayed into one
            burst that then came back every interval to the end of the run: after 15 s, a quarter
            to a half of the lines sent in one 250 ms slice of every second took over 50 ms
            (docs/performance.md). Visitors on a floor do not keep step with each other.
            """
            nonlocal counter
            end = stats.measured_from + args.duration
            due = t_start + phase
            while due < end:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                counter += 1
                key = f"m{engagement_id}-{counter}"
                stats.expect(key, {socket.name, f"op{owner_of[engagement_id]}"})
                await socket.send({"type": "message.send", "body": f"{key} hello"})
                due += args.interval

        # The clock of every line is read in this process, so it must not pause: no garbage
        # collection while sending (a full one walks all the bookkeeping: 50–130 ms here once it
        # had grown). Its garbage is freed by reference counting; the collector is back after.
        gc.collect()
        gc.disable()
        t_start, own_cpu_start, machine_start = time.monotonic(), time.process_time(), machine_busy_seconds()
        stats.measured_from = t_start + args.warmup
        loops = [
            visitor_loop(engagement_id, socket, random.random() * args.interval)
            for engagement_id, socket in visitor_sockets.items()
        ]
        progress = asyncio.create_task(report_progress(stats, t_start, args.warmup + args.duration))
        await asyncio.gather(*loops)
        stats.sending = False
        gc.enable()
        stats.sending_cpu = (
            time.monotonic() - t_start,
            time.process_time() - own_cpu_start,
            machine_busy_seconds() - machine_start,
        )
        sending_ended = time.monotonic()
        await drain(stats, args.drain)
        stats.drain_seconds = time.monotonic() - sending_ended
        progress.cancel()
        for socket in [*operator_sockets.values(), *visitor_sockets.values()]:
            socket.closing = True
            await socket.ws.close()
    return stats


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores, /proc/stat; idle and iowait not counted)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def p99_per_window(stats: Stats, seconds: float = 5) -> str:
    """p99 of the messages sent in each `seconds` of the run: does a slow patch recover under load?"""
    if not stats.latency_by_send_time:
        return "-"
    first = min(sent for sent, _ in stats.latency_by_send_time)
    windows: dict[int, list[float]] = defaultdict(list)
    for sent, latency in stats.latency_by_send_time:
        windows[int((sent - first) // seconds)].append(latency)
    return " ".join(f"{quantile(values, 0.99) * 1000:.0f}" for _, values in sorted(windows.items()))


def deliveries(stats: Stats) -> int:
    return sum(sum(counts.values()) for counts in stats.received.values())


async def drain(stats: Stats, quiet: float) -> None:
    """Wait until every expected delivery arrived, or none arrived for `quiet` seconds."""
    expected = sum(len(recipients) for _, recipients in stats.sent.values())
    last, last_change = deliveries(stats), time.monotonic()
    while time.monotonic() - last_change < quiet:
        await asyncio.sleep(1)
        now = deliveries(stats)
        if now >= expected:
            return
        if now != last:
            last, last_change = now, time.monotonic()


async def report_progress(stats: Stats, t_start: float, duration: float) -> None:
    while True:
        await asyncio.sleep(30)
        elapsed = time.monotonic() - t_start
        recent = stats.latency[-2000:]
        p99 = quantile(recent, 0.99) if recent else float("nan")
        print(
            f"  {elapsed:5.0f}s/{duration:.0f}s sent {len(stats.sent)} errors {dict(stats.errors)} "
            f"recent p99 {p99 * 1000:.0f} ms",
            flush=True,
        )


async def gather_in_batches(coroutines: list, size: int) -> None:
    for start in range(0, len(coroutines), size):
        await asyncio.gather(*coroutines[start : start + size])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk_bench")
    from tests.processes import RedisServer, free_port

    redis = RedisServer().start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "CHANNEL_LAYER_PREFIX": f"load{os.getpid()}",
        "CACHE_PREFIX": f"load{os.getpid()}",
        "CONN_MAX_AGE": args.conn_max_age,
        "AXES_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "load-bench-key-" + "x" * 40),
        # Each scripted operator answers visitors / operators lines a second (240 a minute at the
        # budget's load): past a person's 120-a-minute limit from the 31st second on.
        "OPERATOR_MESSAGES_PER_MINUTE": os.environ.get("OPERATOR_MESSAGES_PER_MINUTE", "100000"),
        "OPERATOR_FRAMES_PER_MINUTE": os.environ.get("OPERATOR_FRAMES_PER_MINUTE", "100000"),
    }
    os.environ.update(env)
    prepare_database(database_url)
    import django

    django.setup()
    from django.db import connection

    ports = [free_port() for _ in range(args.daphnes)]
    daphnes = [start_daphne(port, env) for port in ports]
    try:
        for port in ports:
            wait_listening(port)
        t = time.monotonic()
        operators, visitors = create_desk(args.visitors, args.operators)
        connection.close()
        print(
            f"created {len(operators)} operators and {len(visitors)} routed engagements in {time.monotonic() - t:.0f}s",
            flush=True,
        )
        cpu_before = {p.pid: cpu_seconds(p.pid) for p in daphnes}
        redis_cpu_before = cpu_seconds(redis.popen.pid)
        wall_before = time.monotonic()
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        stats = asyncio.run(run_load(args, urls, operators, visitors))
        wall = time.monotonic() - wall_before
        report(args, stats, visitors, daphnes, cpu_before, redis, redis_cpu_before, wall, database_url)
    finally:
        for process in daphnes:
            process.terminate()
        for process in daphnes:
            process.wait(15)
        redis.stop()


def wait_listening(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"Daphne on {port} did not listen; see /tmp/load-daphne-{port}.log")


def report(args, stats: Stats, visitors, daphnes, cpu_before, redis, redis_cpu_before, wall, database_url) -> None:
    from helpdesk.models import Message

    expected = sum(len(recipients) for _, recipients in stats.sent.values())
    missing = duplicated = 0
    for key, (_, recipients) in stats.sent.items():
        counts = stats.received.get(key, Counter())
        missing += sum(1 for r in recipients if counts[r] == 0)
        duplicated += sum(counts[r] - 1 for r in recipients if counts[r] > 1)
    keys = [key for key in stats.sent]
    engagement_ids = [row["engagement_id"] for row in visitors]
    stored = Message.objects.filter(engagement_id__in=engagement_ids, body__regex=r"^[mr][0-9]+-[0-9]+ ").count()
    latency = [lat for sent, lat in stats.latency_by_send_time if sent >= stats.measured_from]
    warmup = [lat for sent, lat in stats.latency_by_send_time if sent < stats.measured_from]
    sending_seconds = args.warmup + args.duration
    print("\n=== load_visitors result ===")
    print(
        f"sockets: {args.visitors} visitors + {args.operators} operators on {args.daphnes} Daphne processes, "
        f"{stats.cross} conversations across processes"
    )
    connect_p50, connect_p99 = (quantile(stats.connect_times, q) * 1000 for q in (0.5, 0.99))
    print(f"connect: all in {stats.connect_all:.1f}s; per socket p50 {connect_p50:.0f} ms, p99 {connect_p99:.0f} ms")
    print(
        f"sending: {args.warmup:.0f}s of warm-up then {args.duration:.0f}s, a visitor message every "
        f"{args.interval:.0f}s each, every one answered"
    )
    print(
        f"messages sent: {len(keys)} ({len(keys) / sending_seconds:.1f}/s); stored in PostgreSQL for this run: {stored}"
    )
    print(
        f"deliveries expected {expected}, missing {missing}, duplicated {duplicated} "
        f"(waited {stats.drain_seconds:.0f}s for stragglers after sending stopped)"
    )
    print(f"error frames: {dict(stats.errors) or 'none'}")
    if latency:
        print(
            f"delivery latency to the other party (n={len(latency)}): p50 {quantile(latency, 0.5) * 1000:.0f} ms, "
            f"p95 {quantile(latency, 0.95) * 1000:.0f} ms, p99 {quantile(latency, 0.99) * 1000:.0f} ms, "
            f"max {max(latency) * 1000:.0f} ms, mean {statistics.mean(latency) * 1000:.0f} ms"
        )
        if warmup:
            every = latency + warmup
            print(
                f"the warm-up's lines (first {args.warmup:.0f}s, not above; n={len(warmup)}): "
                f"p50 {quantile(warmup, 0.5) * 1000:.0f} ms, p99 {quantile(warmup, 0.99) * 1000:.0f} ms; "
                f"every line, warm-up included: p99 {quantile(every, 0.99) * 1000:.0f} ms"
            )
        print(f"p99 of the messages sent in each 5 s (warm-up first), in ms: {p99_per_window(stats)}")
    sending_wall, own_cpu, machine_cpu = stats.sending_cpu
    if sending_wall:
        print(
            f"while sending: the machine busy {100 * machine_cpu / sending_wall / os.cpu_count():.0f}% "
            f"of its {os.cpu_count()} cores; this load generator {100 * own_cpu / sending_wall:.0f}% of a core"
        )
    for process in daphnes:
        used = cpu_seconds(process.pid) - cpu_before[process.pid]
        print(
            f"daphne pid {process.pid}: CPU {used:.0f}s over {wall:.0f}s ({100 * used / wall:.0f}% of a core), "
            f"RSS {rss_mb(process.pid):.0f} MB"
        )
    total_cpu = sum(cpu_seconds(process.pid) - cpu_before[process.pid] for process in daphnes)
    if stored:
        print(
            f"Daphne CPU per stored message (its receipt, storage and both deliveries): "
            f"{1000 * total_cpu / stored:.1f} ms, connects included"
        )
    redis_used = cpu_seconds(redis.popen.pid) - redis_cpu_before
    print(
        f"redis: CPU {redis_used:.0f}s ({100 * redis_used / wall:.0f}% of a core), RSS {rss_mb(redis.popen.pid):.0f} MB"
    )
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load1:.1f} / {load5:.1f} (shared with other work)")
    command = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"reproduce: DATABASE_URL={database_url} .venv/bin/python bench/load_visitors.py {command}")


if __name__ == "__main__":
    main()
