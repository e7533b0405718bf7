"""The cells of an export: formula neutralising, and the SQL expressions that make PostgreSQL write them.

A raw dataset is a list of cells over a model's queryset. On PostgreSQL every cell is computed
by the database (formula neutralising, ISO times in the row's site zone, rounded seconds), so
rows come back final: XLSX writes them as they are and CSV is produced by PostgreSQL's own
COPY ... TO STDOUT (CSV), streamed as it goes. Elsewhere (SQLite, or a site zone PostgreSQL
does not know) Python computes the very same cells (`python_cell`).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from django.db.models import CharField, DecimalField, FloatField, Func

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ (or a tab/CR hiding one): prefix a quote."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def clean_cell(value):
    """Text neutralised, None as empty; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return value


class IsoText(Func):
    """A time as ISO 8601 text with its offset in a per-row time zone, to the second; '' for none."""

    output_field = CharField()

    def __init__(self, moment, zone, **extra):
        super().__init__(moment, zone, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        moment, moment_params = compiler.compile(self.source_expressions[0])
        zone, zone_params = compiler.compile(self.source_expressions[1])
        if moment_params or zone_params:
            raise ValueError("IsoText takes columns, not parameters")
        local = f"(({moment}) AT TIME ZONE ({zone}))"
        offset = f"({local} - (({moment}) AT TIME ZONE 'UTC'))"
        sql = (
            f"(CASE WHEN ({moment}) IS NULL THEN '' ELSE to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            f"(CASE WHEN {offset} < interval '0' THEN to_char({offset}, 'HH24:MI') "
            f"ELSE '+' || to_char({offset}, 'HH24:MI') END) END)"
        )
        return sql, []


class SessionIsoText(Func):
    """Like IsoText when every row shares one zone, set as the transaction's time zone: one to_char a time."""

    output_field = CharField()
    template = (
        "(CASE WHEN %(expressions)s IS NULL THEN '' "
        "ELSE to_char(%(expressions)s, 'YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM') END)"
    )


class Neutralised(Func):
    """Text a spreadsheet would run (leading = + - @ tab CR) prefixed with a quote; '' for none."""

    output_field = CharField()
    template = (
        "(CASE WHEN left(COALESCE(%(expressions)s, ''), 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        "THEN chr(39) || %(expressions)s ELSE COALESCE(%(expressions)s, '') END)"
    )


class RoundedSeconds(Func):
    """Seconds rounded to the millisecond, as a float."""

    output_field = FloatField()
    template = "round((%(expressions)s)::numeric, 3)::double precision"


class RoundedSecondsDecimal(Func):
    """The same number as an exact decimal, for XLSX, which writes it as text either way: the cast
    back to float goes through text in PostgreSQL and was ~10 % of the whole XLSX query."""

    output_field = DecimalField()
    template = "round((%(expressions)s)::numeric, 3)"


@dataclass(frozen=True)
class Cell:
    """One column of a raw dataset: header, source (field path or annotation), and kind.

    Kinds: "plain" (ids, states: as stored), "text" (neutralised), "time" (ISO 8601 in the
    row's site zone, to the second), "seconds" (a duration annotation, rounded to the ms).
    """

    header: str
    source: str
    kind: str = "plain"


def python_cell(kind: str, value, zone):
    if kind == "text":
        return neutralise(value or "")
    if kind == "time":
        return value.astimezone(zone).isoformat(timespec="seconds") if value is not None else ""
    if kind == "seconds":
        return None if value is None else round(value, 3)
    return value


def zone_named(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")
