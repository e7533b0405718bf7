"""Wallboard update latency (issue 13): a state change's commit → each supervisor's next `wallboard`
frame that shows it, with 200 live chats and 20 supervisor sockets on /ws/supervisor/.

Set-up (bench/chat_latency.py's): a site of its own with ceil(chats / 4) operators holding 4 chats
each, every chat routed and active; every operator's console socket and every visitor's socket
open (so the site's frames go where they go in production); `--supervisors` managers of the site,
each with a supervisor socket. Then `--changes` state changes, one at a time, alternating:

- queue: a visitor starts a chat; every operator is full, so it waits (`waiting` of the queue
  goes up by one on the wallboard);
- availability: an operator who serves no queue of the site goes away / available again (their
  row's `status` and `since` change on the wallboard).

Each change is made through the services in this process, in one transaction; the clock starts
in its on_commit (registered first, so before the service's own publishing) and stops for each
supervisor at the first `wallboard` frame that reflects it. The next change waits until every
supervisor saw it (or `--timeout`), then a random pause of 0.3-1 s. Prints p50/p95/p99/max over
all (change × supervisor) pairs, per change kind, the server's CPU per change, the selector's own
time, and the command to reproduce.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_bench REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/wallboard.py --chats 200 --supervisors 20 --changes 40

Budget (issue 13): p99 ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chat_latency import (  # noqa: E402
    LAYERS,
    SERVERS,
    Server,
    build_population,
    make_supervisors,
    reader,
    retire_site,
    setup_django,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=200, help="live (active) chats (default 200)")
    parser.add_argument("--supervisors", type=int, default=20, help="supervisor sockets (default 20)")
    parser.add_argument("--changes", type=int, default=40, help="state changes measured (default 40)")
    parser.add_argument("--per-operator", type=int, default=4, help="chats each operator holds (default 4)")
    parser.add_argument("--timeout", type=float, default=5, help="seconds a supervisor may take to show a change")
    parser.add_argument("--no-visitors", action="store_true", help="do not open the visitors' sockets")
    parser.add_argument("--server", choices=SERVERS, default="daphne", help="ASGI server to start (default daphne)")
    parser.add_argument("--url", help="use this running server instead of starting one")
    parser.add_argument("--layer", choices=list(LAYERS), default=os.environ.get("BENCH_LAYER", "pubsub"))
    parser.add_argument(
        "--conn-max-age", default=os.environ.get("CONN_MAX_AGE", "60"), help="the server's CONN_MAX_AGE"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    args.engagements = args.chats  # build_population's name
    return args


def percentile(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else None


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": statistics.median(ordered) if ordered else None,
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
    }


# --- the changes (synchronous Django, on a thread of their own) ------------------------------------


class Changes:
    def __init__(self, population: dict):
        from django.contrib.auth import get_user_model

        from helpdesk.models import Media, Operator, Queue
        from helpdesk.services.presence import ensure_availabilities

        self.queue = Queue.objects.get(pk=population["queue"])
        self.waiting = 0
        user = get_user_model().objects.create(username=f"bench-toggle-{self.queue.site_id}")
        self.toggler = Operator.objects.create(user=user, site_id=self.queue.site_id, display_name="Bench toggler")
        ensure_availabilities(operator=self.toggler)  # in no team: serves no queue, so routing leaves them be
        self.media = Media.CHAT
        self.available = False

    def make(self, kind: str) -> tuple[dict, float]:
        """Make one change in one transaction; return what the wallboard must show, and its commit time."""
        from django.db import transaction

        from helpdesk.frames import iso
        from helpdesk.models import Availability
        from helpdesk.services.engagements import start_chat
        from helpdesk.services.presence import set_availability

        committed = []
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(time.perf_counter()))
            if kind == "queue":
                start_chat(queue=self.queue, visitor_name=f"Bench waiting {self.waiting}")
                self.waiting += 1
                expect = {"kind": kind, "queue": self.queue.pk, "waiting": self.waiting}
            else:
                self.available = not self.available
                status = Availability.Status.AVAILABLE if self.available else Availability.Status.AWAY
                availability = set_availability(operator=self.toggler, media=self.media, status=status)
                expect = {
                    "kind": kind,
                    "operator": self.toggler.pk,
                    "media": self.media,
                    "status": status,
                    "since": iso(availability.changed_at),
                }
        return expect, committed[0]


def shows(frame: dict, expect: dict) -> bool:
    if expect["kind"] == "queue":
        return any(q["id"] == expect["queue"] and q["waiting"] == expect["waiting"] for q in frame["queues"])
    for operator in frame["operators"]:
        if operator["id"] == expect["operator"]:
            return any(
                m["media"] == expect["media"] and m["status"] == expect["status"] and m["since"] == expect["since"]
                for m in operator["media"]
            )
    return False


def selector_ms(site_id: int, rounds: int = 10) -> dict:
    """The wallboard's read alone (selector + frame), in this process: what each refresh costs the server."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from helpdesk.models import Site
    from supervision import frames, selectors

    sites = [Site.objects.get(pk=site_id)]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        board = frames.wallboard_frame(selectors.wallboard(sites=sites), at=timezone.now())
        json.dumps(board)
        times.append((time.perf_counter() - started) * 1000)
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        selectors.wallboard(sites=sites)
    return {"median_ms": statistics.median(times), "queries": len(queries), "live_rows": len(board["live"])}


# --- the run --------------------------------------------------------------------------------------


async def run(args, base: str, population: dict, supervisor_cookies: list[str], server: Server | None) -> dict:
    import aiohttp

    ws_base = base.replace("http", "ws", 1)
    origin = {"Origin": base}
    loop = asyncio.get_running_loop()
    django_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    changes = await loop.run_in_executor(django_thread, Changes, population)
    kinds = ["queue", "availability"]
    toggler = changes.toggler.pk
    logs: list[list[tuple[float, dict]]] = [[] for _ in supervisor_cookies]  # per supervisor: (arrival, frame)

    def on_supervisor_frame(i: int, data: str) -> None:
        now = time.perf_counter()
        frame = json.loads(data)
        if frame["type"] == "wallboard":  # keep only what `shows` looks at
            operators = [o for o in frame["operators"] if o["id"] == toggler]
            logs[i].append((now, {"queues": frame["queues"], "operators": operators}))

    def first_showing(i: int, expect: dict, committed: float) -> float | None:
        return next((at for at, frame in logs[i] if at >= committed and shows(frame, expect)), None)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets, readers = [], []
        for cookie in population["cookies"].values():
            ws = await session.ws_connect(f"{ws_base}/ws/operator/", headers={**origin, "Cookie": cookie})
            assert json.loads((await ws.receive()).data)["type"] == "hello"
            sockets.append(ws)
            readers.append(asyncio.ensure_future(reader(ws, lambda data: None)))
        if not args.no_visitors:
            for engagement in population["engagements"]:
                ws = await session.ws_connect(f"{ws_base}/ws/visitor/{engagement['token']}/", headers=origin)
                assert json.loads((await ws.receive()).data)["type"] == "hello"
                sockets.append(ws)
                readers.append(asyncio.ensure_future(reader(ws, lambda data: None)))
        for i, cookie in enumerate(supervisor_cookies):
            ws = await session.ws_connect(f"{ws_base}/ws/supervisor/", headers={**origin, "Cookie": cookie})
            frame = json.loads((await ws.receive()).data)
            assert frame["type"] == "wallboard" and len(frame["live"]) == args.chats, frame.get("type")
            sockets.append(ws)
            readers.append(asyncio.ensure_future(reader(ws, lambda data, i=i: on_supervisor_frame(i, data))))
        await asyncio.sleep(2)
        load_start = os.getloadavg()
        cpu_before = server.cpu_seconds() if server else None
        latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
        missed = 0
        first: list[float] = []  # per change: commit → the first supervisor shows it
        spread: list[float] = []  # per change: first → last supervisor
        started = time.perf_counter()
        for index in range(args.changes):
            kind = kinds[index % len(kinds)]
            expect, committed = await loop.run_in_executor(django_thread, changes.make, kind)
            deadline = committed + args.timeout
            while True:
                shown = [first_showing(i, expect, committed) for i in range(len(logs))]
                if all(at is not None for at in shown) or time.perf_counter() > deadline:
                    break
                await asyncio.sleep(0.01)
            missed += sum(1 for at in shown if at is None)
            latencies[kind] += [(at - committed) * 1000 for at in shown if at is not None]
            if arrived := [at for at in shown if at is not None]:
                first.append((min(arrived) - committed) * 1000)
                spread.append((max(arrived) - min(arrived)) * 1000)
            await asyncio.sleep(random.uniform(0.3, 1.0))
        elapsed = time.perf_counter() - started
        cpu = (server.cpu_seconds() - cpu_before) if server else None
        load_end = os.getloadavg()
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()
    django_thread.shutdown()
    return {
        "all": summary(latencies["queue"] + latencies["availability"]),
        "by_kind": {kind: summary(values) for kind, values in latencies.items()},
        "first_supervisor": summary(first),
        "spread": summary(spread),
        "missed": missed,
        "wallboard_frames_per_supervisor": statistics.median(len(log) for log in logs),
        "server_cpu_ms_per_change": cpu * 1000 / args.changes if cpu is not None else None,
        "server_cpu_share": cpu / elapsed if cpu is not None else None,
        "load_start": load_start,
        "load_end": load_end,
    }


def fmt(value) -> str:
    return "–" if value is None else f"{value:.0f}"


def main() -> None:
    args = parse_args()
    setup_django(args)
    population = build_population(args)
    supervisor_cookies = make_supervisors(population["site"], args.supervisors)
    server = None if args.url else Server(args, args.server)
    try:
        results = asyncio.run(run(args, args.url or server.url, population, supervisor_cookies, server))
    finally:
        errors = server.errors() if server else []
        if server:
            server.stop()
    results["selector"] = selector_ms(population["site"])
    retire_site(population["site"])
    results["server_errors"] = errors
    print(f"\nwallboard: {args.chats} live chats, {args.supervisors} supervisor sockets, {args.changes} changes, "
          f"{args.server if not args.url else args.url}, {os.cpu_count()} CPUs (shared box: see load)")  # fmt: skip
    print(
        f"  load average {results['load_start'][0]:.2f} at the start, {results['load_end'][0]:.2f} at the end (1 min)"
    )
    print(f"  {'commit → wallboard shows it':33} {'n':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    rows = [("all changes", results["all"])] + [(f"  {k}", s) for k, s in results["by_kind"].items()]
    rows += [("per change: the first to show it", results["first_supervisor"])]
    rows += [("per change: first → last", results["spread"])]
    for name, s in rows:
        print(
            f"  {name:30} {s['count']:>5} {fmt(s['p50']):>7} {fmt(s['p95']):>7} {fmt(s['p99']):>7} {fmt(s['max']):>7}"
        )
    print(f"  missed (not shown within {args.timeout:g} s): {results['missed']}; "
          f"wallboard frames per supervisor: {results['wallboard_frames_per_supervisor']:g}")  # fmt: skip
    if results["server_cpu_ms_per_change"] is not None:
        print(f"  server CPU: {results['server_cpu_ms_per_change']:.0f} ms per change "
              f"({results['server_cpu_share'] * 100:.0f} % of a core over the changes)")  # fmt: skip
    sel = results["selector"]
    print(f"  the wallboard's read alone (this process): {sel['median_ms']:.1f} ms, {sel['queries']} queries, "
          f"{sel['live_rows']} live rows")  # fmt: skip
    print(f"  server errors logged: {len(errors)}" + (f" e.g. {errors[:3]}" if errors else ""))
    p99 = results["all"]["p99"]
    results["budget_ok"] = bool(p99 is not None and p99 <= 250 and not results["missed"] and not errors)
    print(f"  budget (p99 ≤ 250 ms, none missed, no server error): {'MET' if results['budget_ok'] else 'NOT MET'}")
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in ("DATABASE_URL", "REDIS_URL") if k in os.environ)
    print(f"\nreproduce: {env} {sys.executable} {' '.join(shlex.quote(a) for a in sys.argv)}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
