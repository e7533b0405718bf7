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
import zoneinfo
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from ..models import AvailabilityLog, Engagement, Message, Note, Site
from . import metrics
from .scope import ReportScope

CHUNK_ROWS = 2000
FILE_CHUNK_BYTES = 256 * 1024
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ (or a tab/CR hiding one): prefix a quote."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class Zones:
    """Site id -> ZoneInfo, looked up once per export."""

    def __init__(self):
        self._zones: dict[int, zoneinfo.ZoneInfo] = {}
        for pk, name in Site.objects.values_list("pk", "time_zone"):
            try:
                self._zones[pk] = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self._zones[pk] = zoneinfo.ZoneInfo("UTC")

    def __getitem__(self, site_id: int) -> zoneinfo.ZoneInfo:
        return self._zones.get(site_id) or zoneinfo.ZoneInfo("UTC")


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
    """Rows from a server-side cursor, a chunk at a time, never the whole table in memory."""
    return queryset.values_list(*fields).iterator(chunk_size=CHUNK_ROWS)


# --- Raw datasets -----------------------------------------------------------------


def engagement_rows(scope: ReportScope) -> Iterator[tuple]:
    return engagement_rows_of(Engagement.objects.filter(scope.engagement_q()))


def engagement_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    zones = Zones()
    queryset = queryset.order_by("created_at", "pk")
    for (
        pk,
        site_id,
        site,
        queue,
        media,
        visitor,
        phone,
        state,
        end_reason,
        created,
        answered,
        ended,
        operator,
    ) in stream(
        queryset,
        "pk",
        "site_id",
        "site__name",
        "queue__name",
        "media",
        "visitor__name",
        "visitor__phone_number",
        "state",
        "end_reason",
        "created_at",
        "answered_at",
        "ended_at",
        "owner__display_name",
    ):
        zone = zones[site_id]
        yield (
            pk,
            neutralise(site),
            neutralise(queue),
            media,
            neutralise(visitor),
            neutralise(phone),
            state,
            end_reason,
            iso(created, zone),
            iso(answered, zone),
            iso(ended, zone),
            seconds_between(created, answered or ended),
            seconds_between(answered, ended),
            neutralise(operator or ""),
        )


def message_rows(scope: ReportScope) -> Iterator[tuple]:
    return message_rows_of(Message.objects.filter(scope.engagement_q("engagement__")))


def message_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    zones = Zones()
    queryset = queryset.order_by("engagement_id", "seq")
    for engagement_id, site_id, seq, sender, operator, body, created in stream(
        queryset,
        "engagement_id",
        "engagement__site_id",
        "seq",
        "sender",
        "operator__display_name",
        "body",
        "created_at",
    ):
        yield engagement_id, seq, iso(created, zones[site_id]), sender, neutralise(operator or ""), neutralise(body)


def note_rows(scope: ReportScope) -> Iterator[tuple]:
    return note_rows_of(Note.objects.filter(scope.engagement_q("engagement__")))


def note_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    zones = Zones()
    queryset = queryset.order_by("engagement_id", "created_at", "pk")
    for pk, engagement_id, site_id, author, source, body, created in stream(
        queryset, "pk", "engagement_id", "engagement__site_id", "author__display_name", "source", "body", "created_at"
    ):
        yield pk, engagement_id, iso(created, zones[site_id]), source, neutralise(author or ""), neutralise(body)


def availability_log_rows(scope: ReportScope) -> Iterator[tuple]:
    return availability_log_rows_of(
        AvailabilityLog.objects.filter(scope.operator_q("operator__"), started_at__lt=scope.end).exclude(
            ended_at__lte=scope.start
        )
    )


def availability_log_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    zones = Zones()
    queryset = queryset.order_by("started_at", "pk")
    for operator, site_id, media, status, started, ended in stream(
        queryset, "operator__display_name", "operator__site_id", "media", "status", "started_at", "ended_at"
    ):
        zone = zones[site_id]
        yield neutralise(operator), media, status, iso(started, zone), iso(ended, zone), seconds_between(started, ended)


def transfers_of(scope: ReportScope) -> QuerySet:
    return metrics.transfers_in(scope)


def transfer_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    zones = Zones()
    queryset = queryset.order_by("requested_at", "pk")
    for row in stream(
        queryset,
        "pk",
        "engagement_id",
        "engagement__site_id",
        "initiator__display_name",
        "target_operator__display_name",
        "target_queue__name",
        "accepted_by__display_name",
        "state",
        "end_reason",
        "reason_text",
        "requested_at",
        "answered_at",
        "completed_at",
        "ended_at",
    ):
        (pk, engagement_id, site_id, initiator, target, queue, accepted_by, state, end_reason, reason_text,
         requested, answered, completed, ended) = row  # fmt: skip
        zone = zones[site_id]
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
            iso(requested, zone),
            iso(answered, zone),
            iso(completed, zone),
            iso(ended, zone),
            seconds_between(requested, answered),
        )


def call_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    zones = Zones()
    queryset = queryset.order_by("engagement__created_at", "pk")
    for row in stream(
        queryset,
        "pk",
        "engagement_id",
        "engagement__site_id",
        "engagement__queue__name",
        "engagement__visitor__name",
        "engagement__visitor__phone_number",
        "mode",
        "provider",
        "engagement__created_at",
        "engagement__answered_at",
        "engagement__ended_at",
        "engagement__end_reason",
        "engagement__owner__display_name",
    ):
        pk, engagement_id, site_id, queue, caller, phone, mode, provider, created, answered, ended, reason, owner = row
        zone = zones[site_id]
        yield (
            pk,
            engagement_id,
            neutralise(queue),
            neutralise(caller),
            neutralise(phone),
            mode,
            provider,
            iso(created, zone),
            iso(answered, zone),
            iso(ended, zone),
            reason,
            seconds_between(created, answered or ended),
            seconds_between(answered, ended),
            neutralise(owner or ""),
        )


def leg_rows_of(queryset: QuerySet) -> Iterator[tuple]:
    zones = Zones()
    queryset = queryset.order_by("call_id", "initiated_at", "pk")
    for row in stream(
        queryset,
        "pk",
        "call_id",
        "call__engagement__site_id",
        "kind",
        "operator__display_name",
        "queue__name",
        "phone_number",
        "state",
        "end_reason",
        "initiated_at",
        "ringing_at",
        "connected_at",
        "held_at",
        "ended_at",
    ):
        (
            pk,
            call_id,
            site_id,
            kind,
            operator,
            queue,
            phone,
            state,
            reason,
            initiated,
            ringing,
            connected,
            held,
            ended,
        ) = row
        zone = zones[site_id]
        yield (
            pk,
            call_id,
            kind,
            neutralise(operator or ""),
            neutralise(queue or ""),
            neutralise(phone),
            state,
            reason,
            iso(initiated, zone),
            iso(ringing, zone),
            iso(connected, zone),
            iso(held, zone),
            iso(ended, zone),
            seconds_between(initiated, connected),
            seconds_between(connected, ended),
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
