"""The wallboard is read once per change for all of a process's supervisors of a site, and at once
(leading), not after the debounce (supervision/boards.py; bench/wallboard.py measures it)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from helpdesk.models import Availability, Media
from helpdesk.services.presence import set_availability
from supervision import boards
from tests.helpdesk.chat_helpers import receive_until

from .test_socket import open_board

pytestmark = pytest.mark.django_db(transaction=True)


def status_of(board: dict, operator_id: int) -> str:
    row = next(o for o in board["operators"] if o["id"] == operator_id)
    return next(m["status"] for m in row["media"] if m["media"] == Media.CHAT)


def test_one_change_is_read_once_for_every_supervisor_and_shown_before_the_debounce(floor, monkeypatch):
    monkeypatch.setattr(boards, "WALLBOARD_DEBOUNCE", 5.0)  # a trailing-only refresh would take 5 s
    reads = []
    read = boards.read_board

    async def counting_read(site_ids):
        reads.append(site_ids)
        return await read(site_ids)

    monkeypatch.setattr(boards, "read_board", counting_read)

    async def scenario():
        sockets = [(await open_board(user))[0] for user in (floor.lead.user, floor.lead2.user, floor.manager)]
        await database_sync_to_async(set_availability)(
            operator=floor.bob, media=Media.CHAT, status=Availability.Status.AWAY
        )
        for socket in sockets:
            board = await receive_until(socket, "wallboard", timeout=3)
            while status_of(board, floor.bob.pk) != Availability.Status.AWAY:
                board = await receive_until(socket, "wallboard", timeout=3)
        for socket in sockets:
            await socket.disconnect()

    asyncio.run(scenario())
    # the first request reads at once; requests that came during that read get one more after it
    assert 1 <= len(reads) <= 2 and set(reads) == {(floor.site.pk,)}
