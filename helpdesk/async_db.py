"""A small pool of asynchronous PostgreSQL connections for the chat's hot path.

Posting a chat line is the one act that runs hundreds of times a second. Running it in
worker threads through the ORM made Daphne's event loop wait for the GIL behind them
(measured: socket sends of ~0.8 ms each under load, see docs/performance.md), so the
sockets post chat lines with psycopg's async connections on the event loop itself, with
no thread at all. Everything else keeps using the ORM.

Connections run in autocommit: each statement is its own transaction, so a hot-path act is
written as one statement. One pool per event loop (tests run several loops); connections are opened lazily, at most
CHAT_ASYNC_DB_CONNECTIONS per process, and reused.

Lost connections (failover, restart, `pg_terminate_backend`, idle timeouts)
---------------------------------------------------------------------------
Idle connections die without the pool noticing: the server sends its FATAL message and closes
the socket while nobody reads it. Handed out as they were, each dead one would fail one chat
line, up to CHAT_ASYNC_DB_CONNECTIONS in a row after a failover. So:

* **Checked before anything is sent.** An idle connection is handed out only if it is open,
  libpq calls it OK and its socket has nothing to read (`poll`, no wait): an idle autocommit
  connection that LISTENs to nothing receives nothing, so readable means the server's
  termination notice or the end of the stream is waiting. A connection failing the check is
  thrown away, and so is **every other idle connection** (they were opened together and share
  the server's fate; reopening a healthy one costs a connect, ~2 ms), and a fresh connection
  is opened. No byte of the statement ever went to the dead connection, so running it on the
  fresh one is not a retry that could post twice: it is its first and only attempt. This is the
  "retry once on a fresh connection" the chat needs, made safe by doing it *before* sending.
* **Never retried once sent.** If the connection fails after `execute()` started (it died in
  the microseconds between the check and the send, or while the statement ran), the statement
  may or may not have committed: a post is one autocommit statement, and PostgreSQL may have
  committed it and died before its answer reached us. Running it again could store the line
  twice (with two seqs), so the error goes up: the socket answers with an `internal` error frame
  carrying the frame's `ref`, and the client, seeing it refused, may send it again. Before the
  error goes up, the broken connection and all idle ones are thrown away, so the resend (and
  every other socket's next line) gets a fresh connection. The rare resend after a commit whose
  answer was lost is the one case that can store a line twice; it is visible (two lines, two
  seqs), never a silent loss.
* **A failed connect is an error too**: with the database down, the line is refused the same
  way; the next one tries to connect again.

Proven by tests/reliability/test_async_db_faults.py (real `pg_terminate_backend` on every pooled
connection of a chat socket's process).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import select
import weakref
from contextlib import asynccontextmanager

import psycopg
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


@functools.cache
def available() -> bool:
    """The async path needs PostgreSQL; with the SQLite default the sockets use worker threads.

    Asked once per process (the database does not change under it): looking the connection up
    through Django's context-local handler on every chat line cost ~3 % of a line's Daphne CPU
    in a py-spy profile at 400 lines a second (docs/performance.md)."""
    return connections["default"].vendor == "postgresql"


def conninfo() -> str:
    db = connections["default"].settings_dict
    parts = {
        "dbname": db["NAME"],
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
        # Times come back in UTC, as the ORM reads them, whatever the server's own time zone.
        "options": "-c TimeZone=UTC",
    }
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})


class Pool:
    def __init__(self, size: int):
        self.size = size
        self.idle: asyncio.LifoQueue[psycopg.AsyncConnection] = asyncio.LifoQueue()
        self.opened: list[psycopg.AsyncConnection] = []
        self.lock = asyncio.Lock()

    async def get(self) -> psycopg.AsyncConnection:
        """A connection that looked alive just now, before anything was sent on it (see above)."""
        while True:
            if self.idle.empty() and len(self.opened) < self.size:
                async with self.lock:
                    if len(self.opened) < self.size:
                        connection = await psycopg.AsyncConnection.connect(conninfo(), autocommit=True)
                        self.opened.append(connection)
                        return connection
            connection = await self.idle.get()
            if not looks_dead(connection):
                return connection
            logger.warning("A pooled chat database connection was lost; dropping every idle one and reconnecting")
            self.discard(connection)
            self.drop_idle()

    def put(self, connection: psycopg.AsyncConnection) -> None:
        if connection.closed or connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.discard(connection)
        else:
            self.idle.put_nowait(connection)

    def discard(self, connection: psycopg.AsyncConnection) -> None:
        if connection in self.opened:
            self.opened.remove(connection)
        if not connection.closed:
            connection.pgconn.finish()

    def drop_idle(self) -> None:
        """Close every idle connection (after one was found dead: they likely all are)."""
        while not self.idle.empty():
            self.discard(self.idle.get_nowait())

    def close(self) -> None:
        for connection in list(self.opened):
            self.discard(connection)


def looks_dead(connection: psycopg.AsyncConnection) -> bool:
    """True if an idle connection cannot be trusted with a statement: closed, broken, or with
    unread input (the server's termination notice or end of stream) waiting on its socket."""
    if connection.closed or connection.broken or connection.pgconn.status != psycopg.pq.ConnStatus.OK:
        return True
    try:
        poller = select.poll()  # not select.select: a busy Daphne has descriptors past FD_SETSIZE
        poller.register(connection.pgconn.socket, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, psycopg.OperationalError):
        return True


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def pool() -> Pool:
    loop = asyncio.get_running_loop()
    if loop not in _pools:
        _pools[loop] = Pool(settings.CHAT_ASYNC_DB_CONNECTIONS)
    return _pools[loop]


@asynccontextmanager
async def connection():
    """A pooled connection, checked alive before use; never retried once a statement was sent.

    If it breaks while in use, it and every idle connection are thrown away and the error goes
    up (the statement may have committed; see the module docstring for why it is not re-run).
    """
    current_pool = pool()
    conn = await current_pool.get()
    try:
        yield conn
    except (psycopg.OperationalError, psycopg.InterfaceError):
        lost = conn.closed or conn.broken or conn.pgconn.status != psycopg.pq.ConnStatus.OK
        current_pool.discard(conn)
        if lost:  # not a statement error on a live connection (a lock timeout, say): the server went
            current_pool.drop_idle()
        raise
    finally:
        if conn in current_pool.opened:
            current_pool.put(conn)


def close_all() -> None:
    """Close every pooled connection of every loop (tests, before the test database goes)."""
    for current_pool in list(_pools.values()):
        current_pool.close()
