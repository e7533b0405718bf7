"""The product's PostgreSQL backend: timestamps parsed by psycopg's C loader, the values Django's gives."""

from __future__ import annotations

import datetime
import zoneinfo

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from helpdesk.postgresql.base import PARSER, TIMESTAMPTZ_OID, timestamp_loader

pytestmark = pytest.mark.django_db

LITERALS = [
    "2026-12-07 23:59:59.999999+00",
    "2026-03-29 01:30:00+02",  # a summer-time change in Europe
    "2026-10-25 02:30:00.5-04:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59+00",
    "1970-01-01 00:00:00+00",
]


def read(literals: list[str]) -> list[datetime.datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS t(value, n) ORDER BY n", [literals]
        )
        return [row[0] for row in cursor.fetchall()]


def test_psycopg_binary_gives_the_c_parser():
    """Without it (a pure-Python psycopg), the backend would gain nothing: requirements.txt asks for it."""
    assert psycopg.pq.__impl__ in ("binary", "c")
    assert PARSER.__module__.startswith(("psycopg_binary", "psycopg_c"))


def test_connections_and_their_cursors_read_timestamps_with_the_fast_loader():
    """Django's cursors register their own (slow) loader when the connection's `timezone` differs
    from theirs: the fast one must be the one a query uses."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is timestamp_loader(connection.timezone)


def test_timestamps_read_the_same_as_with_djangos_loader():
    fast = read(LITERALS)
    connection.ensure_connection()
    register_tzloader(connection.timezone, connection.connection)  # Django's own, for this connection
    try:
        assert connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).__name__ == "SpecificTzLoader"
        django = read(LITERALS)
    finally:
        connection.close()  # the next test connects afresh, with the product's loader
    assert fast == django
    assert [value.tzinfo for value in fast] == [connection.timezone] * len(LITERALS)
    assert [value.tzinfo for value in django] == [connection.timezone] * len(LITERALS)
    assert fast[1] == datetime.datetime(2026, 3, 28, 23, 30, tzinfo=datetime.UTC)


def test_a_django_time_zone_other_than_utc_reads_as_djangos_loader_does():
    """DATABASES' TIME_ZONE: Django sets the session to that zone and puts its zone object on each
    value read; on a session in Lisbon both loaders give the same values, in Lisbon."""
    lisbon = zoneinfo.ZoneInfo("Europe/Lisbon")
    params = connection.get_connection_params()
    params.pop("context")
    literals = [literal for literal in LITERALS if not literal.startswith("0001")]  # BC in Lisbon's LMT
    values = {}
    for name, register in (
        ("fast", lambda conn: conn.adapters.register_loader("timestamptz", timestamp_loader(lisbon))),
        ("django", lambda conn: register_tzloader(lisbon, conn)),
    ):
        with psycopg.connect(**params, options="-c TimeZone=Europe/Lisbon") as conn:
            register(conn)
            values[name] = [conn.execute("SELECT %s::timestamptz", [literal]).fetchone()[0] for literal in literals]
    assert values["fast"] == values["django"]
    assert values["fast"][0] == datetime.datetime(2026, 12, 7, 23, 59, 59, 999999, tzinfo=datetime.UTC)
    assert all(value.tzinfo is lisbon for value in values["fast"])


def test_a_bad_timestamp_is_an_error_not_a_wrong_value():
    with pytest.raises(Exception, match="(?i)timestamp|out of range|can't parse"):
        read(["infinity"])
