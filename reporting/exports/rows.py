"""The rows of a raw dataset: a server-side cursor a chunk at a time, or PostgreSQL's COPY in blocks.

Inside a read-only transaction, so memory stays flat whatever the size. Where PostgreSQL knows
every site's zone it computes the final cells (`cells`), and COPY writes them as CSV lines or as
ready-made XLSX `<row>` elements (`sheetxml.row_sql`); elsewhere Python computes the same cells.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter

from django.db import connection, connections, transaction
from django.db.models import F, QuerySet
from psycopg.pq import TransactionStatus

from helpdesk.models import Site

from .cells import (
    Cell,
    IsoText,
    Neutralised,
    RoundedSeconds,
    RoundedSecondsDecimal,
    SessionIsoText,
    python_cell,
    zone_named,
)
from .sheetxml import cell_kind, row_sql, xml_safe

CHUNK_ROWS = 2000
COPY_BLOCK_BYTES = 64 * 1024


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


@dataclass(frozen=True)
class RawSpec:
    """One raw table: the model it lists, its cells, the order of its rows, the path to each row's
    site time zone, and the annotations (durations) its cells read."""

    model_label: str
    cells: tuple[Cell, ...]
    order_by: tuple[str, ...]
    zone_path: str
    annotations: Callable[[], dict] = dict

    def prepared(self, queryset: QuerySet) -> QuerySet:
        return queryset.order_by(*self.order_by).annotate(**self.annotations())

    def database_cells(self, queryset: QuerySet, *, session_zone: bool = False, xlsx: bool = False) -> QuerySet:
        """A values_list whose every column is the final cell, computed by PostgreSQL.

        With `session_zone`, times are written in the transaction's time zone (see `_one_zone`);
        with `xlsx`, seconds are exact decimals (the same numbers, cheaper to write as text).
        """
        annotations = {}
        for n, cell in enumerate(self.cells):
            source = F(cell.source)
            if cell.kind == "text":
                source = Neutralised(source)
            elif cell.kind == "time" and session_zone:
                source = SessionIsoText(source)
            elif cell.kind == "time":
                source = IsoText(source, F(self.zone_path))
            elif cell.kind == "seconds":
                source = RoundedSecondsDecimal(source) if xlsx else RoundedSeconds(source)
            annotations[f"cell_{n}"] = source
        return self.prepared(queryset).annotate(**annotations).values_list(*annotations)

    def python_rows(self, queryset: QuerySet) -> Iterator[tuple]:
        """The same cells computed in Python (other databases, zones PostgreSQL does not know)."""
        kinds = [cell.kind for cell in self.cells]
        zones: dict[str, zoneinfo.ZoneInfo] = {}
        sources = [cell.source for cell in self.cells]
        for *values, zone_name in stream(self.prepared(queryset), *sources, self.zone_path):
            zone = zones.get(zone_name)
            if zone is None:
                zone = zones[zone_name] = zone_named(zone_name)
            yield tuple(python_cell(kind, value, zone) for kind, value in zip(kinds, values, strict=True))


def _database_formats_cells() -> bool:
    """PostgreSQL computes cells when it knows every site's zone name (else Python does, with UTC fallback)."""
    if connection.vendor != "postgresql":
        return False
    names = frozenset(Site.objects.values_list("time_zone", flat=True).distinct())
    if names not in _ZONES_KNOWN:  # pg_timezone_names reads the zone files: ~50 ms, so ask once per set
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT name) FROM pg_timezone_names WHERE name = ANY(%s)", [list(names)])
            _ZONES_KNOWN[names] = cursor.fetchone()[0] == len(names)
    return _ZONES_KNOWN[names]


_ZONES_KNOWN: dict[frozenset, bool] = {}


def _one_zone() -> str | None:
    """The zone name when every site shares one (the usual case): PostgreSQL then formats times in
    the transaction's time zone, about twice as fast as converting each row to its site's zone."""
    names = list(Site.objects.values_list("time_zone", flat=True).distinct()[:2])
    return names[0] if len(names) == 1 else None


@contextmanager
def _transaction_zone(values: QuerySet, zone: str | None):
    """A read-only transaction for the export, in `zone` if given, planned to start fast.

    COPY is planned for its total cost, which for a join ordered by time means sorting every
    row before the first goes out (seconds for 200,000 engagements). With explicit sorts
    discouraged the planner walks the time index instead and rows flow at once. Both settings
    are SET LOCAL (gone with the transaction) and put back before it ends, unless it failed
    (a client gone mid-COPY: psycopg cancels it), when its rollback puts them back.
    """
    database = connections[values.db]
    with transaction.atomic(using=values.db):
        with database.cursor() as cursor:
            cursor.execute("SELECT set_config('enable_sort', 'off', true)")
            if zone is not None:
                cursor.execute("SELECT set_config('TimeZone', %s, true)", [zone])
        try:
            yield
        finally:
            if database.connection.info.transaction_status != TransactionStatus.INERROR:
                with database.cursor() as cursor:
                    cursor.execute("SELECT set_config('enable_sort', 'on', true), set_config('TimeZone', 'UTC', true)")


class RawRows:
    """The rows of a raw dataset over a queryset: tuples of final cells when iterated, and, where
    PostgreSQL computes the cells, the same rows as ready-made XLSX sheet rows (`xlsx_blocks`).

    Nothing runs until one of them is asked for.
    """

    def __init__(self, spec: RawSpec, queryset: QuerySet):
        self.spec = spec
        self.queryset = queryset

    def __iter__(self) -> Iterator[tuple]:
        if not _database_formats_cells():
            yield from self.spec.python_rows(self.queryset)
            return
        zone = _one_zone()
        values = self.spec.database_cells(self.queryset, session_zone=zone is not None)
        with _transaction_zone(values, zone):
            yield from _raw_rows(values)

    def xlsx_blocks(self) -> Iterator[bytes] | None:
        """`<row>` elements written by PostgreSQL's COPY, in blocks; None where the database cannot."""
        if not _database_formats_cells():
            return None
        zone = _one_zone()
        values = self.spec.database_cells(self.queryset, session_zone=zone is not None, xlsx=True)
        return _copy_blocks(values, zone, xlsx=[cell_kind(cell, values, n) for n, cell in enumerate(self.spec.cells)])


def raw_rows_of(spec: RawSpec, queryset: QuerySet) -> RawRows:
    return RawRows(spec, queryset)


def copy_csv_of(spec: RawSpec, queryset: QuerySet) -> Iterator[bytes] | None:
    """CSV data rows written by PostgreSQL's COPY, in blocks; None where the database cannot."""
    if not _database_formats_cells():
        return None
    zone = _one_zone()
    return _copy_blocks(spec.database_cells(queryset, session_zone=zone is not None), zone)


class CopyBlock(bytes):
    """Bytes from COPY (CSV lines or XLSX `<row>` elements) that know how many rows they hold (for progress bars)."""

    rows: int

    def __new__(cls, data: bytes, rows: int):
        block = super().__new__(cls, data)
        block.rows = rows
        return block


def _copy_blocks(values: QuerySet, zone: str | None = None, *, xlsx: list[str] | None = None) -> Iterator[bytes]:
    """COPY (query) TO STDOUT inside a transaction, gathered into blocks of ~64 KB.

    CSV by default; with `xlsx` (the kind of each cell, see `row_sql`) each row comes out as
    its sheet `<row>` element, made XML-safe by `xml_safe` block by block.
    """
    sql, params = values.query.sql_with_params()
    if xlsx is None:
        statement, payloads = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", _messages
    else:
        statement, payloads = f"COPY ({row_sql(sql, xlsx)}) TO STDOUT WITH (FORMAT binary)", _binary_field
    database = connections[values.db]
    with _transaction_zone(values, zone):
        database.ensure_connection()
        with (
            database.connection.cursor() as cursor,
            cursor.copy(statement, params) as copy,
        ):
            buffer, size, rows = [], 0, 0
            for data in payloads(copy):  # one message per row
                buffer.append(data)
                size += len(data)
                rows += 1
                if size >= COPY_BLOCK_BYTES:
                    yield _copy_block(buffer, rows, xlsx is not None)
                    buffer, size, rows = [], 0, 0
            if buffer:
                yield _copy_block(buffer, rows, xlsx is not None)


def _copy_block(buffer: list, rows: int, xml: bool) -> CopyBlock:
    data = b"".join(buffer)
    return CopyBlock(xml_safe(data) if xml else data, rows)


def _messages(copy) -> Iterator:
    return iter(copy)


BINARY_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _binary_field(copy) -> Iterator:
    """The one column of each row of COPY ... (FORMAT binary): its bytes exactly, no escaping.

    Framing: a 19-byte header before the first row, then per row a 2-byte field count and a
    4-byte length before the data, and a 2-byte trailer (-1) at the end; one message per row.
    """
    first = True
    for data in copy:
        if first:
            first = False
            if bytes(data[:11]) != BINARY_COPY_SIGNATURE:
                raise ValueError("not a binary COPY stream")
            data = data[19:]
            if not data:
                continue
        if len(data) > 2:  # 2 bytes: the trailer (read on, so that COPY ends cleanly)
            yield data[6:]
