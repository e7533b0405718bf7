"""One wallboard read per burst of changes, shared by a server process's supervisor sockets.

Every supervisor socket of a site gets the same frames (the site's groups), so with the board read
per socket, 20 supervisors made 20 identical reads of the whole board (~30 ms each with 200 live
chats, one after the other on Django's one sync thread) for each change: the last saw it ~800 ms
after the commit (bench/wallboard.py, docs/performance.md). Here the sockets that supervise the
same sites share one `SharedBoard`:

- a change read *leading*: the first request starts a read at once, unless one started less than
  WALLBOARD_DEBOUNCE ago, in which case one read follows at the end of that interval;
- a request that comes while a read runs gets another read after it (started after the request,
  so it includes the change that caused it); the burst of the same frame reaching all sockets
  costs two reads, not one per socket;
- each read's frame is serialised once and goes to every socket of the board.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.utils import timezone

from helpdesk.models import Site

from . import frames, selectors

WALLBOARD_DEBOUNCE = 0.2  # seconds between two reads of one board

Send = Callable[[str], Awaitable[None]]  # sends one text frame


@database_sync_to_async
def read_board(site_ids: tuple[int, ...]) -> dict:
    sites = list(Site.objects.filter(pk__in=site_ids).order_by("name"))
    return frames.wallboard_frame(selectors.wallboard(sites=sites), at=timezone.now())


class SharedBoard:
    def __init__(self, site_ids: tuple[int, ...]):
        self.site_ids = site_ids
        self.key: tuple = ()
        self.sockets: dict[object, Send] = {}
        self.reading = False
        self.again = False
        self.scheduled = False
        self.last_read = -WALLBOARD_DEBOUNCE

    def request(self) -> None:
        """Something the board shows may have changed: make sure a read starts from now on."""
        if self.reading:
            self.again = True
        elif not self.scheduled:
            self.scheduled = True
            delay = self.last_read + WALLBOARD_DEBOUNCE - time.monotonic()
            asyncio.get_running_loop().call_later(max(0.0, delay), self._start)

    def _start(self) -> None:
        self.scheduled = False
        self.reading = True
        self.last_read = time.monotonic()
        asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            text = json.dumps(await read_board(self.site_ids))
            for send in list(self.sockets.values()):
                try:
                    await send(text)
                except Exception:  # a socket closing meanwhile must not keep the others from their board
                    continue
        finally:
            self.reading = False
            if self.again and self.sockets:
                self.again = False
                self.request()


_boards: dict[tuple, SharedBoard] = {}  # by (event loop, site ids)


def join(site_ids, socket, send: Send) -> SharedBoard:
    """The board of these sites in this process; `send` gets each of its frames until `leave`."""
    ids = tuple(sorted(site_ids))
    key = (id(asyncio.get_running_loop()), ids)
    board = _boards.get(key)
    if board is None:
        board = _boards[key] = SharedBoard(ids)
        board.key = key
    board.sockets[socket] = send
    return board


def leave(board: SharedBoard, socket) -> None:
    board.sockets.pop(socket, None)
    if not board.sockets and _boards.get(board.key) is board:
        del _boards[board.key]
