"""A small pool of asynchronous PostgreSQL connections for the chat's hot path.

Posting a chat line is the one act that runs hundreds of times a second. Running it in
worker threads through the ORM made Daphne's event loop wait for the GIL behind them
(measured: socket sends of ~0.8 ms each under load, see docs/performance.md), so the
sockets post chat lines with psycopg's async connections on the event loop itself, with
no thread at all. Everything else keeps using the ORM.

Connections run in autocommit: each statement is its own transaction, so a hot-path act is
written as one statement. One pool per event loop (tests run several loops); connections are opened lazily, at most
CHAT_ASYNC_DB_CONNECTIONS per process, and reused.
"""

from __future__ import annotations

import asyncio
import weakref
from contextlib import asynccontextmanager

import psycopg
from django.conf import settings
from django.db import connections


def available() -> bool:
    """The async path needs PostgreSQL; with the SQLite default the sockets use worker threads."""
    return connections["default"].vendor == "postgresql"


def conninfo() -> str:
    db = connections["default"].settings_dict
    parts = {
        "dbname": db["NAME"],
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
    }
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})


class Pool:
    def __init__(self, size: int):
        self.size = size
        self.idle: asyncio.LifoQueue[psycopg.AsyncConnection] = asyncio.LifoQueue()
        self.opened: list[psycopg.AsyncConnection] = []
        self.lock = asyncio.Lock()

    async def get(self) -> psycopg.AsyncConnection:
        if self.idle.empty() and len(self.opened) < self.size:
            async with self.lock:
                if len(self.opened) < self.size:
                    connection = await psycopg.AsyncConnection.connect(conninfo(), autocommit=True)
                    self.opened.append(connection)
                    return connection
        return await self.idle.get()

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

    def close(self) -> None:
        for connection in list(self.opened):
            self.discard(connection)


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def pool() -> Pool:
    loop = asyncio.get_running_loop()
    if loop not in _pools:
        _pools[loop] = Pool(settings.CHAT_ASYNC_DB_CONNECTIONS)
    return _pools[loop]


@asynccontextmanager
async def connection():
    """A pooled connection; a broken one is thrown away instead of going back to the pool."""
    current_pool = pool()
    conn = await current_pool.get()
    try:
        yield conn
    except (psycopg.OperationalError, psycopg.InterfaceError):
        current_pool.discard(conn)
        raise
    finally:
        if conn in current_pool.opened:
            current_pool.put(conn)


def close_all() -> None:
    """Close every pooled connection of every loop (tests, before the test database goes)."""
    for current_pool in list(_pools.values()):
        current_pool.close()
