"""Export benchmark: 200,000 engagements and 1,000,000 messages, streamed as CSV and XLSX through
the real ASGI view, against django-import-export exporting the same rows.

Budget (issue 6): peak memory growth <= 64 MB, >= 50,000 rows/s, first byte <= 1 s.

Reproduce (PostgreSQL on 127.0.0.1; creates and fills its own database the first time):

    .venv/bin/python bench/export_engagements.py                 # all runs
    .venv/bin/python bench/export_engagements.py --only csv      # just the streaming CSV runs
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/other .venv/bin/python bench/export_engagements.py

Each measurement runs in a fresh child process so that its peak RSS is its own: the peak
(VmHWM, reset through /proc/self/clear_refs just before the run) minus the RSS at that moment
is the "memory growth". First byte = time to the first chunk (the CSV header); first row =
time to the first chunk that holds data rows (for XLSX, the first chunk). An XLSX download is
spooled to a temporary file as it comes and its sheet's rows are counted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk_bench_reports")
ENGAGEMENTS = int(os.environ.get("BENCH_ENGAGEMENTS", 200_000))
MESSAGES_PER_ENGAGEMENT = 5
START = datetime(2026, 2, 1, tzinfo=UTC)
DAYS = 28


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("AXES_ENABLED", "false")
    os.environ["DEBUG"] = "false"  # no query log growing with every row
    import django

    django.setup()


def ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def load_data() -> None:
    """Fill the bench database with COPY (fast, no ORM objects); skipped when already there."""
    from django.core.management import call_command
    from django.db import connection

    from helpdesk.models import Engagement, Message, Operator, Queue, Site, Team

    call_command("migrate", verbosity=0)
    if Engagement.objects.count() == ENGAGEMENTS and Message.objects.count() == ENGAGEMENTS * MESSAGES_PER_ENGAGEMENT:
        return
    print(f"loading {ENGAGEMENTS:,} engagements and {ENGAGEMENTS * MESSAGES_PER_ENGAGEMENT:,} messages ...", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE helpdesk_message, helpdesk_note, helpdesk_ownership, helpdesk_engagement, helpdesk_visitor "
            "RESTART IDENTITY CASCADE"
        )
    from django.contrib.auth import get_user_model

    site, _ = Site.objects.get_or_create(name="Bench", defaults={"time_zone": "Europe/Paris"})
    team, _ = Team.objects.get_or_create(site=site, name="Bench team")
    queue, _ = Queue.objects.get_or_create(site=site, name="Bench queue", defaults={"media": "chat"})
    users = get_user_model().objects
    manager, _ = users.get_or_create(username="bench-manager", defaults={"is_staff": True})
    site.managers.add(manager)
    operators = []
    for n in range(10):
        user, _ = users.get_or_create(username=f"bench-op{n}")
        operator, _ = Operator.objects.get_or_create(
            user=user, defaults={"site": site, "display_name": f"Operator {n}"}
        )
        operators.append(operator.pk)
    raw = connection.connection  # the psycopg connection under Django's
    step = timedelta(days=DAYS) / ENGAGEMENTS
    with raw.cursor() as cursor:
        with cursor.copy("COPY helpdesk_visitor (id, name, phone_number, created_at) FROM STDIN") as copy:
            for n in range(1, ENGAGEMENTS + 1):
                phone = f"+3361{n:07d}" if n % 4 == 0 else ""
                copy.write_row((n, f"Visitor {n}" if n % 50 else f'=HYPERLINK("x","{n}")', phone, START + step * n))
        columns = (
            "id, site_id, queue_id, visitor_id, media, state, owner_id, created_at, queued_at, answered_at, "
            "ended_at, end_reason, last_seq"
        )
        with cursor.copy(f"COPY helpdesk_engagement ({columns}) FROM STDIN") as copy:
            for n in range(1, ENGAGEMENTS + 1):
                created = START + step * n
                abandoned = n % 10 == 0
                answered = None if abandoned else created + timedelta(seconds=n % 90)
                ended = created + timedelta(seconds=(n % 90) + (0 if abandoned else 300))
                copy.write_row(
                    (
                        n,
                        site.pk,
                        queue.pk,
                        n,
                        "chat",
                        "ended",
                        None if abandoned else operators[n % 10],
                        created,
                        created,
                        answered,
                        ended,
                        "abandoned" if abandoned else "visitor_left",
                        MESSAGES_PER_ENGAGEMENT,
                    )  # fmt: skip
                )
        with cursor.copy(
            "COPY helpdesk_message (engagement_id, seq, sender, operator_id, body, client_id, created_at) FROM STDIN"
        ) as copy:
            for n in range(1, ENGAGEMENTS + 1):
                created = START + step * n
                for seq in range(1, MESSAGES_PER_ENGAGEMENT + 1):
                    operator = operators[n % 10] if seq % 2 == 0 else None
                    body = f"Message {seq} of conversation {n}: where is my order, please?"
                    copy.write_row(
                        (
                            n,
                            seq,
                            "operator" if operator else "visitor",
                            operator,
                            body,
                            "",  # no client wrote these lines (the column has no database default)
                            created + timedelta(seconds=seq * 7),
                        )  # fmt: skip
                    )
        for table in ("helpdesk_visitor", "helpdesk_engagement", "helpdesk_message"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cursor.execute(f"ANALYZE {table}")
    raw.commit()
    print(f"loaded in {time.perf_counter() - started:.1f}s", flush=True)


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def run_streaming(dataset: str, fmt: str) -> dict:
    """GET /reports/export/<dataset>.<fmt> through Django's async handler as a logged-in manager."""
    import asyncio

    from django.contrib.auth import get_user_model
    from django.test import AsyncClient

    manager = get_user_model().objects.get(username="bench-manager")
    end = (START + timedelta(days=DAYS + 1)).date().isoformat()
    path = f"/reports/export/{dataset}.{fmt}?start={START.date().isoformat()}&end={end}"

    async def go() -> dict:
        client = AsyncClient()
        await client.aforce_login(manager)
        # warm-up: imports, template-free view path, DB connection
        warm = await client.get(f"/reports/export/metrics_by_site.csv?start={START.date().isoformat()}&end={end}")
        async for _ in warm.streaming_content:
            pass
        baseline = rss_kb()
        reset_peak()
        started = time.perf_counter()
        response = await client.get(path)
        first_byte = first_row = None
        size = 0
        lines = 0
        with tempfile.TemporaryFile() as spool:  # XLSX only
            async for chunk in response.streaming_content:
                now = time.perf_counter() - started
                if first_byte is None and chunk:
                    first_byte = now
                if fmt == "csv":
                    lines += chunk.count(b"\n")
                    if first_row is None and lines > 1:
                        first_row = now
                else:
                    spool.write(chunk)
                size += len(chunk)
            elapsed = time.perf_counter() - started
            growth_mb = (peak_kb() - baseline) / 1024
            rows_written = lines - 1 if fmt == "csv" else sheet_rows(spool) - 1
        return {
            "status": response.status_code,
            "seconds": elapsed,
            "bytes": size,
            "first_byte": first_byte,
            "first_row": first_row if fmt == "csv" else first_byte,
            "rows_written": rows_written,
            "growth_mb": growth_mb,
        }

    return asyncio.run(go())


def sheet_rows(spool) -> int:
    """`<row>` elements in an XLSX file's first sheet (header included), read back with zipfile."""
    count, tail = 0, b""
    with zipfile.ZipFile(spool) as archive, archive.open("xl/worksheets/sheet1.xml") as sheet:
        while block := sheet.read(1 << 20):
            data = tail + block
            count += data.count(b"</row>")
            tail = data[-5:]  # too short to hold a whole "</row>": nothing counted twice
    return count


def run_import_export(dataset: str) -> dict:
    """django-import-export: a ModelResource with the same columns, exported to CSV (its usual way)."""
    from import_export import fields, resources

    from helpdesk.models import Engagement, Message

    if dataset == "engagements":

        class EngagementResource(resources.ModelResource):
            site = fields.Field(attribute="site__name", column_name="site")
            queue = fields.Field(attribute="queue__name", column_name="queue")
            visitor = fields.Field(attribute="visitor__name", column_name="visitor")
            phone_number = fields.Field(attribute="visitor__phone_number", column_name="phone_number")
            operator = fields.Field(attribute="owner__display_name", column_name="operator")

            class Meta:
                model = Engagement
                fields = ("id", "site", "queue", "media", "visitor", "phone_number", "state", "end_reason",
                          "created_at", "answered_at", "ended_at", "operator")  # fmt: skip

        resource = EngagementResource()
        queryset = Engagement.objects.select_related("site", "queue", "visitor", "owner").order_by("created_at", "pk")
    else:

        class MessageResource(resources.ModelResource):
            operator = fields.Field(attribute="operator__display_name", column_name="operator")

            class Meta:
                model = Message
                fields = ("engagement", "seq", "created_at", "sender", "operator", "body")

        resource = MessageResource()
        queryset = Message.objects.select_related("operator").order_by("engagement_id", "seq")
    queryset.first()  # warm the connection
    baseline = rss_kb()
    reset_peak()
    started = time.perf_counter()
    exported = resource.export(queryset=queryset)
    text = exported.csv
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "bytes": len(text.encode()),
        "first_byte": elapsed,  # nothing can be sent before the whole dataset is built
        "first_row": elapsed,
        "rows_written": len(exported),
        "growth_mb": (peak_kb() - baseline) / 1024,
    }


RUNS = [
    ("stream", "engagements", "csv"),
    ("stream", "messages", "csv"),
    ("stream", "engagements", "xlsx"),
    ("import_export", "engagements", "csv"),
    ("import_export", "messages", "csv"),
]


def child(kind: str, dataset: str, fmt: str) -> None:
    setup_django()
    result = run_streaming(dataset, fmt) if kind == "stream" else run_import_export(dataset)
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["csv", "xlsx", "import_export"], help="Run only some measurements.")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    ensure_database()
    setup_django()
    load_data()
    rows = {"engagements": ENGAGEMENTS, "messages": ENGAGEMENTS * MESSAGES_PER_ENGAGEMENT}
    print(f"\nload average before: {os.getloadavg()[0]:.2f} (2 shared cores)")
    header = f"{'run':<34} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'1st byte':>9} {'1st row':>8} {'growth MB':>9}"
    print(header)
    print("-" * len(header))
    results = []
    for kind, dataset, fmt in RUNS:
        if args.only == "import_export" and kind != "import_export":
            continue
        if args.only in ("csv", "xlsx") and (kind != "stream" or fmt != args.only):
            continue
        output = subprocess.run(
            [sys.executable, __file__, "--child", kind, dataset, fmt], capture_output=True, text=True, cwd=ROOT
        )
        line = next((ln for ln in output.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"{kind} {dataset} {fmt} failed:\n{output.stdout[-2000:]}\n{output.stderr[-4000:]}")
            continue
        result = json.loads(line[7:])
        count = rows[dataset]
        if result.get("rows_written") is not None:
            assert result["rows_written"] == count, (result["rows_written"], count)
        name = f"{'streaming' if kind == 'stream' else 'django-import-export'} {dataset} {fmt}"
        print(
            f"{name:<34} {count:>9,} {result['seconds']:>8.2f} {count / result['seconds']:>9,.0f} "
            f"{result['first_byte']:>8.3f}s {result['first_row']:>7.3f}s {result['growth_mb']:>9.1f}"
        )
        results.append({"run": name, "rows": count, **result})
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    Path(ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench-export.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
