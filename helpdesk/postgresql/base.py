"""Django's PostgreSQL backend, reading every timestamp with psycopg's C parser.

Django 5.2 reads `timestamptz` through a loader of its own (`psycopg_any.BaseTzLoader`) derived
from psycopg's pure-Python one, so even with psycopg[binary] each value is parsed by a regular
expression in Python (Django ticket #36960; psycopg's C loader cannot be subclassed, psycopg
#1273). That was ~30 % of reading a chat's 200 lines and ~25 % of drawing 300 expiring transfers
(docs/performance.md, issue 16). The loader here parses with the class psycopg's own adapters
hold (its C one with psycopg[binary]; public API) and then sets Django's time zone exactly as
Django's does, so every value is the same. Everything else is Django's backend.
"""

from __future__ import annotations

from functools import lru_cache

import psycopg
from django.db.backends.postgresql import base
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

TIMESTAMPTZ_OID = psycopg.postgres.types["timestamptz"].oid
PARSER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


@lru_cache
def timestamp_loader(timezone):
    """A loader class per Django time zone: Django's cursors compare its `timezone` with theirs and
    register a slow one of their own when it differs."""

    class TimestamptzLoader(Loader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = PARSER(oid, context).load

        def load(self, data):
            value = self._parse(data)
            # As Django's loader: its time zone object on the value the session's zone gave.
            return value if value.tzinfo is timezone else value.replace(tzinfo=timezone)

    TimestamptzLoader.timezone = timezone
    return TimestamptzLoader


@lru_cache
def adapters_with_fast_timestamps(template: AdaptersMap, timezone) -> AdaptersMap:
    """Django's adapters for new connections (one cached map per time zone), with the loader above."""
    adapters = AdaptersMap(template)
    adapters.register_loader("timestamptz", timestamp_loader(timezone))
    return adapters


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        params["context"] = adapters_with_fast_timestamps(params["context"], self.timezone)
        return params
