"""Helpers for the chat socket tests: communicators on the real ASGI app and the real Redis layer."""

from __future__ import annotations

import asyncio
import json

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from helpdesk.asgi import application
from helpdesk.visitor_tokens import make_visitor_token

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_cookie_for(user) -> str:
    """A logged-in session for `user`, as the browser's cookie header would carry it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


async def operator_socket(user, *, query: str = "", origin: bytes = ORIGIN[1]) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie_for)(user)
    path = "/ws/operator/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(
        application, path, headers=[(b"origin", origin), (b"cookie", cookie.encode()), (b"host", b"127.0.0.1")]
    )


def visitor_token(engagement) -> str:
    return make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)


def visitor_socket(engagement=None, *, token: str | None = None, query: str = "") -> WebsocketCommunicator:
    token = token or visitor_token(engagement)
    path = f"/ws/visitor/{token}/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(application, path, headers=[ORIGIN, (b"host", b"127.0.0.1")])


async def connect(communicator: WebsocketCommunicator) -> dict:
    """Connect and return the hello frame."""
    connected, code = await communicator.connect(timeout=5)
    assert connected, f"socket refused ({code})"
    hello = await receive(communicator)
    assert hello["type"] == "hello", hello
    return hello


async def receive(communicator: WebsocketCommunicator, timeout: float = 5) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def receive_until(communicator: WebsocketCommunicator, frame_type: str, timeout: float = 5) -> dict:
    """The next frame of `frame_type`, skipping others (presence, queue overview...)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await receive(communicator, timeout=max(0.05, deadline - loop.time()))
        if frame["type"] == frame_type:
            return frame


async def drain(communicator: WebsocketCommunicator, quiet: float = 0.3) -> list[dict]:
    """Every frame that arrives until the socket is quiet for `quiet` seconds."""
    frames = []
    while not await communicator.receive_nothing(timeout=quiet):
        frames.append(await receive(communicator))
    return frames


async def send(communicator: WebsocketCommunicator, frame: dict) -> None:
    await communicator.send_to(text_data=json.dumps(frame))


async def receive_types(communicator: WebsocketCommunicator, types: set[str], count: int, timeout: float = 10) -> list:
    """The next `count` frames whose type is in `types`, skipping others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    frames = []
    while len(frames) < count:
        frame = await receive(communicator, timeout=max(0.05, deadline - loop.time()))
        if frame["type"] in types:
            frames.append(frame)
    return frames
