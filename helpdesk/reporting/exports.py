"""Datasets and the streaming CSV/XLSX writers shared by the page, the admin, the command and the bench.

Memory stays flat whatever the size: rows come from a server-side cursor
(`QuerySet.iterator`) a chunk at a time, CSV text is produced a chunk at a time, and XLSX
goes through openpyxl's write-only workbook (rows spooled to a temporary file) and is then
streamed from that file. Every text cell is neutralised against formula injection and every
time is written in its site's time zone as ISO 8601.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction
from django.db.models import CharField, F, Func, IntegerField, QuerySet
from django.db.models.functions import Coalesce

from ..models import AvailabilityLog, Engagement, Message, Note, Site
from . import metrics
from .metrics import Seconds
from .scope import ReportScope

CHUNK_ROWS = 2000
FILE_CHUNK_BYTES = 256 * 1024
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ (or a tab/CR hiding one): prefix a quote."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def iso(moment: datetime | None, zone) -> str:
    return moment.astimezone(zone).isoformat() if moment is not None else ""


def seconds_between(start: datetime | None, stop: datetime | None) -> float | str:
    if start is None or stop is None:
        return ""
    return round((stop - start).total_seconds(), 3)


def clean_cell(value):
    """Text neutralised, None as empty; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return value


@dataclass(frozen=True)
class Dataset:
    """One exportable table: a name for URLs/files, its columns and a row source for a scope.

    Raw datasets also say which model they list (`model`) and how to turn any queryset of
    it into rows (`rows_of`), so the admin can export its own filtered change list.
    """

    name: str
    title: str
    columns: tuple[str, ...]
    rows: Callable[[ReportScope], Iterable[tuple]]
    model: type | None = None
    rows_of: Callable[[QuerySet], Iterable[tuple]] | None = None
    queryset: Callable[[ReportScope], QuerySet] | None = None

    def count(self, scope: ReportScope) -> int | None:
        """How many rows a raw dataset will have (for progress bars); None for metric tables."""
        return self.queryset(scope).count() if self.queryset else None

    def filename(self, scope: ReportScope, extension: str) -> str:
        start = scope.start.astimezone(scope.zone).date().isoformat()
        last = scope.days[-1].isoformat()
        return f"{self.name}_{start}_{last}.{extension}"


def stream(queryset: QuerySet, *fields: str) -> Iterator[tuple]:
    """Rows from a server-side cursor, a chunk at a time, never the whole table in memory.

    Inside a transaction on purpose: outside one, Django declares the cursor WITH HOLD and
    PostgreSQL then materialises the entire result before the first row comes back (seconds
    and a temporary file for a million rows). Under ASGI each request has its own thread and
    connection, so this read-only transaction holds nobody else's queries.
    """
    with transaction.atomic(using=queryset.db):
        rows = queryset.values_list(*fields)
        if connections[queryset.db].vendor != "postgresql":
            yield from rows.iterator(chunk_size=CHUNK_ROWS)
            return
        yield from _raw_rows(rows)


def _raw_rows(rows: QuerySet) -> Iterator[tuple]:
    """The values_list's SQL through psycopg's own named cursor: C loaders, no per-row converters.

    Only for columns that need no Django conversion (text, numbers; times come as text). The
    SQL's column order (extra, fields, annotations) is mapped back to the order asked for, as
    Django's ValuesListIterable does.
    """
    query = rows.query
    sql, params = query.sql_with_params()
    # Django 5.2 selects in the order asked for (`query.selected`); older ones put annotations last.
    selected = getattr(query, "selected", None)
    names = list(selected) if selected else [*query.extra_select, *query.values_select, *query.annotation_select]
    wanted = [*rows._fields, *(name for name in query.annotation_select if name not in rows._fields)]
    reorder = None if names == wanted else itemgetter(*[names.index(name) for name in wanted])
    database = connections[rows.db]
    database.ensure_connection()
    with database.connection.cursor(name=f"export_{uuid.uuid4().hex}") as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK_ROWS):
            if reorder is None:
                yield from chunk
            else:
                yield from map(reorder, chunk)


# --- Raw datasets -----------------------------------------------------------------


class LocalText(Func):
    """A time as ISO 8601 local text (no offset) in a per-row time zone, formatted by PostgreSQL.

    `timestamp::text` is what `isoformat()` writes but for the "T" (microseconds only when
    not zero). Loading timestamps into Python datetimes is the slowest part of a big export;
    text comes back through psycopg's C loader at a fraction of the cost.
    """

    output_field = CharField()

    def __init__(self, moment, zone, **extra):
        super().__init__(moment, zone, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="replace(((%(expressions)s))::text, ' ', 'T')", arg_joiner=") AT TIME ZONE ("
        )


class OffsetSeconds(Func):
    """The per-row zone's UTC offset at that time, in whole seconds (formatted as +HH:MM in Python)."""

    output_field = IntegerField()

    def __init__(self, moment, zone, **extra):
        super().__init__(moment, zone, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        moment, moment_params = compiler.compile(self.source_expressions[0])
        zone, zone_params = compiler.compile(self.source_expressions[1])
        sql = f"EXTRACT(EPOCH FROM ((({moment}) AT TIME ZONE ({zone})) - (({moment}) AT TIME ZONE 'UTC')))::integer"
        return sql, (*moment_params, *zone_params, *moment_params)


def _padded(local: str) -> str:
    """PostgreSQL trims trailing zeros of microseconds ("10.00012"); isoformat() writes six digits."""
    return local if len(local) in (19, 26) else local.ljust(26, "0")


_OFFSETS: dict[int, str] = {}


def offset_text(seconds: int) -> str:
    """+HH:MM for an offset in seconds, as isoformat() writes it (cached: there are few)."""
    text = _OFFSETS.get(seconds)
    if text is None:
        sign = "-" if seconds < 0 else "+"
        minutes = abs(seconds) // 60
        text = _OFFSETS[seconds] = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return text


def _database_formats_times() -> bool:
    """PostgreSQL formats times itself when it knows every site's zone name (else Python does, UTC fallback)."""
    if connection.vendor != "postgresql":
        return False
    names = set(Site.objects.values_list("time_zone", flat=True).distinct())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT name) FROM pg_timezone_names WHERE name = ANY(%s)", [list(names)])
        known = cursor.fetchone()[0]
    return known == len(names)


def timed_rows(queryset: QuerySet, fields: list[str], times: list[str], zone_path: str) -> Iterator[tuple]:
    """Rows of `fields` followed by each field of `times` as ISO 8601 text in the row's site time zone."""
    width = len(fields)
    if _database_formats_times():
        names = []
        annotations = {}
        for n, moment in enumerate(times):
            annotations[f"local_{n}"] = LocalText(F(moment), F(zone_path))
            annotations[f"offset_{n}"] = OffsetSeconds(F(moment), F(zone_path))
            names += [f"local_{n}", f"offset_{n}"]
        pairs = range(width, width + 2 * len(times), 2)
        for row in stream(queryset.annotate(**annotations), *fields, *names):
            yield row[:width] + tuple(
                "" if row[i] is None else _padded(row[i]) + offset_text(row[i + 1]) for i in pairs
            )
        return
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    for row in stream(queryset, *fields, *times, zone_path):
        zone = zones.get(row[-1])
        if zone is None:
            zone = zones[row[-1]] = _zone(row[-1])
        yield row[:width] + tuple(iso(moment, zone) for moment in row[width:-1])


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def secs(value) -> float | str:
    return "" if value is None else round(value, 3)


def engagement_rows(scope: ReportScope) -> Iterator[tuple]:
    return engagement_rows_of(Engagement.objects.filter(scope.engagement_q()))


def engagement_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    queryset = queryset.order_by("created_at", "pk").annotate(
        wait=Seconds(Coalesce("answered_at", "ended_at"), F("created_at")),
        handle=Seconds(F("ended_at"), F("answered_at")),
    )
    fields = ["pk", "site__name", "queue__name", "media", "visitor__name", "visitor__phone_number", "state",
              "end_reason", "owner__display_name", "wait", "handle"]  # fmt: skip
    for row in timed_rows(queryset, fields, ["created_at", "answered_at", "ended_at"], "site__time_zone"):
        pk, site, queue, media, visitor, phone, state, end_reason, operator, wait, handle, created, answered, ended = (
            row
        )
        yield (
            pk,
            neutralise(site),
            neutralise(queue),
            media,
            neutralise(visitor),
            neutralise(phone),
            state,
            end_reason,
            created,
            answered,
            ended,
            secs(wait),
            secs(handle),
            neutralise(operator or ""),
        )


def message_rows(scope: ReportScope) -> Iterator[tuple]:
    return message_rows_of(Message.objects.filter(scope.engagement_q("engagement__")))


def message_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    queryset = queryset.order_by("engagement_id", "seq")
    fields = ["engagement_id", "seq", "sender", "operator__display_name", "body"]
    for engagement_id, seq, sender, operator, body, sent in timed_rows(
        queryset, fields, ["created_at"], "engagement__site__time_zone"
    ):
        yield engagement_id, seq, sent, sender, neutralise(operator or ""), neutralise(body)


def note_rows(scope: ReportScope) -> Iterator[tuple]:
    return note_rows_of(Note.objects.filter(scope.engagement_q("engagement__")))


def note_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    queryset = queryset.order_by("engagement_id", "created_at", "pk")
    fields = ["pk", "engagement_id", "author__display_name", "source", "body"]
    for pk, engagement_id, author, source, body, created in timed_rows(
        queryset, fields, ["created_at"], "engagement__site__time_zone"
    ):
        yield pk, engagement_id, created, source, neutralise(author or ""), neutralise(body)


def availability_log_rows(scope: ReportScope) -> Iterator[tuple]:
    return availability_log_rows_of(
        AvailabilityLog.objects.filter(scope.operator_q("operator__"), started_at__lt=scope.end).exclude(
            ended_at__lte=scope.start
        )
    )


def availability_log_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    queryset = queryset.order_by("started_at", "pk").annotate(seconds=Seconds(F("ended_at"), F("started_at")))
    fields = ["operator__display_name", "media", "status", "seconds"]
    for operator, media, status, seconds, started, ended in timed_rows(
        queryset, fields, ["started_at", "ended_at"], "operator__site__time_zone"
    ):
        yield neutralise(operator), media, status, started, ended, secs(seconds)


def transfers_of(scope: ReportScope) -> QuerySet:
    return metrics.transfers_in(scope)


def transfer_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    queryset = queryset.order_by("requested_at", "pk").annotate(to_answer=Seconds(F("answered_at"), F("requested_at")))
    fields = ["pk", "engagement_id", "initiator__display_name", "target_operator__display_name", "target_queue__name",
              "accepted_by__display_name", "state", "end_reason", "reason_text", "to_answer"]  # fmt: skip
    times = ["requested_at", "answered_at", "completed_at", "ended_at"]
    for row in timed_rows(queryset, fields, times, "engagement__site__time_zone"):
        (pk, engagement_id, initiator, target, queue, accepted_by, state, end_reason, reason_text, to_answer,
         requested, answered, completed, ended) = row  # fmt: skip
        yield (
            pk,
            engagement_id,
            neutralise(initiator),
            neutralise(target or ""),
            neutralise(queue or ""),
            neutralise(accepted_by or ""),
            state,
            end_reason,
            neutralise(reason_text),
            requested,
            answered,
            completed,
            ended,
            secs(to_answer),
        )


def call_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    queryset = queryset.order_by("engagement__created_at", "pk").annotate(
        wait=Seconds(Coalesce("engagement__answered_at", "engagement__ended_at"), F("engagement__created_at")),
        handle=Seconds(F("engagement__ended_at"), F("engagement__answered_at")),
    )
    fields = ["pk", "engagement_id", "engagement__queue__name", "engagement__visitor__name",
              "engagement__visitor__phone_number", "mode", "provider", "engagement__end_reason",
              "engagement__owner__display_name", "wait", "handle"]  # fmt: skip
    times = ["engagement__created_at", "engagement__answered_at", "engagement__ended_at"]
    for row in timed_rows(queryset, fields, times, "engagement__site__time_zone"):
        (
            pk,
            engagement_id,
            queue,
            caller,
            phone,
            mode,
            provider,
            reason,
            owner,
            wait,
            handle,
            created,
            answered,
            ended,
        ) = row
        yield (
            pk,
            engagement_id,
            neutralise(queue),
            neutralise(caller),
            neutralise(phone),
            mode,
            provider,
            created,
            answered,
            ended,
            reason,
            secs(wait),
            secs(handle),
            neutralise(owner or ""),
        )


def leg_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    queryset = queryset.order_by("call_id", "initiated_at", "pk").annotate(
        ring=Seconds(F("connected_at"), F("initiated_at")), talk=Seconds(F("ended_at"), F("connected_at"))
    )
    fields = ["pk", "call_id", "kind", "operator__display_name", "queue__name", "phone_number", "state", "end_reason",
              "ring", "talk"]  # fmt: skip
    times = ["initiated_at", "ringing_at", "connected_at", "held_at", "ended_at"]
    for row in timed_rows(queryset, fields, times, "call__engagement__site__time_zone"):
        pk, call_id, kind, operator, queue, phone, state, reason, ring, talk, *moments = row
        yield (
            pk,
            call_id,
            kind,
            neutralise(operator or ""),
            neutralise(queue or ""),
            neutralise(phone),
            state,
            reason,
            *moments,
            secs(ring),
            secs(talk),
        )


def _calls_of(scope: ReportScope) -> QuerySet:
    from telephony.models import Call

    return Call.objects.filter(engagement__in=metrics.engagements_in(scope).values("pk"))


def _legs_of(scope: ReportScope) -> QuerySet:
    from telephony.models import Leg

    return Leg.objects.filter(call__engagement__in=metrics.engagements_in(scope).values("pk"))


# --- Metrics tables as datasets ---------------------------------------------------

ENGAGEMENT_METRIC_COLUMNS = (
    ("label", "group"),
    ("offered", "offered"),
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("abandonment_rate", "abandonment_rate"),
    ("avg_wait", "avg_wait_seconds"),
    ("p90_wait", "p90_wait_seconds"),
    ("asa", "avg_speed_of_answer_seconds"),
    ("service_level", "service_level"),
    ("aht", "avg_handle_seconds"),
    ("transferred", "transferred"),
    ("transfer_rate", "transfer_rate"),
)
OPERATOR_METRIC_COLUMNS = (
    ("label", "operator"),
    ("handled", "handled"),
    ("aht", "avg_handle_seconds"),
    ("transferred_in", "transferred_in"),
    ("transferred_out", "transferred_out"),
    *((f"{s}_seconds", f"{s}_seconds") for s in metrics.AVAILABILITY_STATES),
)


def _number(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    return value


def metric_rows(columns, rows_of: Callable[[ReportScope], list[dict]]):
    def rows(scope: ReportScope) -> Iterator[tuple]:
        for row in rows_of(scope):
            yield tuple(clean_cell(row[key]) if key == "label" else _number(row[key]) for key, _ in columns)

    return rows


def _engagement_metrics_dataset(by: str) -> Dataset:
    return Dataset(
        name=f"metrics_by_{by}",
        title=f"Metrics by {by}",
        columns=tuple(header for _, header in ENGAGEMENT_METRIC_COLUMNS),
        rows=metric_rows(ENGAGEMENT_METRIC_COLUMNS, lambda scope: metrics.engagement_metrics(scope=scope, by=by)),
    )


DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    DATASETS[dataset.name] = dataset
    return dataset


register(
    Dataset(
        "engagements",
        "Engagements",
        (
            "id",
            "site",
            "queue",
            "media",
            "visitor",
            "phone_number",
            "state",
            "end_reason",
            "created_at",
            "answered_at",
            "ended_at",
            "wait_seconds",
            "handle_seconds",
            "operator",
        ),
        engagement_rows,
        Engagement,
        engagement_rows_of,
        lambda scope: Engagement.objects.filter(scope.engagement_q()),
    )
)
register(
    Dataset(
        "messages",
        "Transcripts (messages)",
        ("engagement", "seq", "sent_at", "sender", "operator", "body"),
        message_rows,
    )
)
register(
    Dataset(
        "notes",
        "Notes",
        ("id", "engagement", "created_at", "source", "author", "body"),
        note_rows,
        Note,
        note_rows_of,
        lambda scope: Note.objects.filter(scope.engagement_q("engagement__")),
    )
)
register(
    Dataset(
        "availability_log",
        "Availability log",
        ("operator", "media", "status", "started_at", "ended_at", "seconds"),
        availability_log_rows,
        AvailabilityLog,
        availability_log_rows_of,
        lambda scope: AvailabilityLog.objects.filter(scope.operator_q("operator__"), started_at__lt=scope.end).exclude(
            ended_at__lte=scope.start
        ),
    )
)
for _by in metrics.GROUPINGS:
    register(_engagement_metrics_dataset(_by))
register(
    Dataset(
        "metrics_operators",
        "Operator figures",
        tuple(header for _, header in OPERATOR_METRIC_COLUMNS),
        metric_rows(OPERATOR_METRIC_COLUMNS, lambda scope: metrics.operator_metrics(scope=scope)),
    )
)
register(
    Dataset(
        "metrics_availability",
        "Availability time per state",
        ("operator", "media", "status", "seconds"),
        lambda scope: (
            (neutralise(r["operator"]), r["media"], r["status"], round(r["seconds"], 3))
            for r in metrics.availability_metrics(scope=scope)
        ),
    )
)


def _register_transfers_and_calls() -> None:
    """Transfers and telephony are apps of their own; their datasets join the same registry."""
    from telephony.models import Call, Leg
    from transfers.models import Transfer

    register(
        Dataset(
            "transfers",
            "Transfers",
            (
                "id",
                "engagement",
                "initiator",
                "target_operator",
                "target_queue",
                "accepted_by",
                "state",
                "end_reason",
                "decline_reason",
                "requested_at",
                "answered_at",
                "completed_at",
                "ended_at",
                "time_to_answer_seconds",
            ),  # fmt: skip
            lambda scope: transfer_rows_of(transfers_of(scope)),
            Transfer,
            transfer_rows_of,
            transfers_of,
        )
    )
    register(
        Dataset(
            "calls",
            "Calls",
            (
                "id",
                "engagement",
                "queue",
                "caller",
                "phone_number",
                "mode",
                "provider",
                "created_at",
                "answered_at",
                "ended_at",
                "end_reason",
                "wait_seconds",
                "handle_seconds",
                "operator",
            ),  # fmt: skip
            lambda scope: call_rows_of(_calls_of(scope)),
            Call,
            call_rows_of,
            _calls_of,
        )
    )
    register(
        Dataset(
            "legs",
            "Call legs",
            (
                "id",
                "call",
                "kind",
                "operator",
                "queue",
                "phone_number",
                "state",
                "end_reason",
                "initiated_at",
                "ringing_at",
                "connected_at",
                "held_at",
                "ended_at",
                "ring_seconds",
                "talk_seconds",
            ),  # fmt: skip
            lambda scope: leg_rows_of(_legs_of(scope)),
            Leg,
            leg_rows_of,
            _legs_of,
        )
    )
    transfer_columns = (
        ("label", "group"), ("requested", "requested"), ("accepted", "accepted"), ("completed", "completed"),
        ("declined", "declined"), ("expired", "expired"), ("cancelled", "cancelled"), ("open", "open"),
        ("accept_rate", "accept_rate"), ("avg_time_to_accept", "avg_time_to_accept_seconds"),
    )  # fmt: skip
    register(
        Dataset(
            "metrics_transfers",
            "Transfer outcomes by day",
            tuple(header for _, header in transfer_columns),
            metric_rows(transfer_columns, lambda scope: metrics.transfer_metrics(scope=scope, by="day")),
        )
    )
    register(
        Dataset(
            "metrics_decline_reasons",
            "Decline reasons",
            ("reason", "declined"),
            metric_rows(
                (("label", "reason"), ("declined", "declined")), lambda scope: metrics.decline_reasons(scope=scope)
            ),
        )
    )
    call_columns = (
        ("label", "group"), ("calls", "calls"), ("consults", "consults"), ("call_transfers", "call_transfers"),
        ("conferences", "conferences"), ("cold_transfers", "cold_transfers"), ("avg_consult", "avg_consult_seconds"),
    )  # fmt: skip
    register(
        Dataset(
            "metrics_calls",
            "Call figures by day",
            tuple(header for _, header in call_columns),
            metric_rows(call_columns, lambda scope: metrics.call_metrics(scope=scope, by="day")),
        )
    )


_register_transfers_and_calls()


# --- Writers ---------------------------------------------------------------------


class _Echo:
    """A file-like that hands back what is written, so csv.writer can build a chunk of text."""

    def __init__(self):
        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def csv_chunks(
    columns: tuple[str, ...], rows: Iterable[tuple], *, progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    """CSV text a chunk of rows at a time (header first, so the first byte goes out at once)."""
    sink = _Echo()
    writer = csv.writer(sink)
    writer.writerow(columns)
    yield sink.take()
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK_ROWS:
            writer.writerows(batch)
            if progress:
                progress(len(batch))
            batch.clear()
            yield sink.take()
    if batch:
        writer.writerows(batch)
        if progress:
            progress(len(batch))
        yield sink.take()


def _lazy(rows: Callable[[], Iterable[tuple]]) -> Iterator[tuple]:
    """Defer building the rows (queries included) to the first `next()`, made in the sync thread."""
    yield from rows()


async def acsv_chunks(columns: tuple[str, ...], rows: Callable[[], Iterable[tuple]]) -> AsyncIterator[bytes]:
    """The CSV stream for ASGI: each chunk is produced in the sync thread (which owns the DB cursor)."""
    chunks = csv_chunks(columns, _lazy(rows))
    done = object()
    next_chunk = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    try:
        while (chunk := await next_chunk()) is not done:
            yield chunk.encode()
    finally:
        # A client that goes away must not leave the server-side cursor open.
        await sync_to_async(chunks.close, thread_sensitive=True)()


def write_xlsx(
    title: str,
    columns: tuple[str, ...],
    rows: Iterable[tuple],
    target,
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write rows to `target` (path or binary file) with openpyxl's write-only workbook (flat memory)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    bold = Font(bold=True)
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
        if progress and count % CHUNK_ROWS == 0:
            progress(CHUNK_ROWS)
    if progress and count % CHUNK_ROWS:
        progress(count % CHUNK_ROWS)
    workbook.save(target)


def _sheet_title(title: str) -> str:
    for char in "[]:*?/\\()":
        title = title.replace(char, "")
    return title[:31] or "Sheet"


def xlsx_tempfile(title: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> str:
    """Build the workbook in a temporary file and return its path (the caller removes it)."""
    handle, path = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(handle)
    try:
        write_xlsx(title, columns, rows, path)
    except BaseException:
        os.unlink(path)
        raise
    return path


def file_chunks(path: str) -> Iterator[bytes]:
    """A file's bytes a chunk at a time; the file is removed once read (or abandoned)."""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(FILE_CHUNK_BYTES):
                yield chunk
    finally:
        os.unlink(path)


async def axlsx_chunks(
    title: str, columns: tuple[str, ...], rows: Callable[[], Iterable[tuple]]
) -> AsyncIterator[bytes]:
    """The XLSX stream for ASGI: built in the sync thread into a temporary file, then sent from it."""
    path = await sync_to_async(lambda: xlsx_tempfile(title, columns, rows()), thread_sensitive=True)()
    chunks = file_chunks(path)
    try:
        for chunk in chunks:
            yield chunk
    finally:
        chunks.close()


def streaming_response(
    *, title: str, columns: tuple[str, ...], rows: Callable[[], Iterable[tuple]], fmt: str, filename: str
):
    """A StreamingHttpResponse over an async iterator (what ASGI streams without buffering)."""
    from django.http import StreamingHttpResponse

    chunks = acsv_chunks(columns, rows) if fmt == "csv" else axlsx_chunks(title, columns, rows)
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


def export_to_file(
    dataset: Dataset, scope: ReportScope, *, fmt: str, target, progress: Callable[[int], None] | None = None
) -> None:
    """Write one dataset to a path or binary file (the management command's and the bench's way)."""
    if fmt == "xlsx":
        write_xlsx(dataset.title, dataset.columns, dataset.rows(scope), target, progress=progress)
        return
    handle = open(target, "wb") if isinstance(target, str | os.PathLike) else target  # noqa: SIM115
    try:
        for chunk in csv_chunks(dataset.columns, dataset.rows(scope), progress=progress):
            handle.write(chunk.encode())
    finally:
        if handle is not target:
            handle.close()


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
