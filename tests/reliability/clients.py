"""Real network clients for fault, cluster and load tests: HTTP sign-in and chat sockets (aiohttp).

`ChatSocket` behaves like static/js/core/socket.js (LiveSocket): it reconnects by itself with
exponential back-off and full jitter, and on every connect asks for the messages after the
last seq it saw. It records every frame, so a test can check what arrived, once or twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import uuid
from dataclasses import dataclass, field

import aiohttp
import requests


def signed_in_session(base_url: str, username: str, password: str = "password") -> requests.Session:
    """Sign in through the login form, as a browser does; the session cookie is in the jar."""
    session = requests.Session()
    page = session.get(f"{base_url}/accounts/login/", timeout=15)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base_url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=15,
    )
    assert response.status_code == 302, f"sign-in failed ({response.status_code})"
    return session


def start_visitor_chat(base_url: str, *, queue_id: int, name: str = "Visitor") -> str:
    """A visitor fills in the start form; returns the signed token of their engagement."""
    session = requests.Session()
    page = session.get(f"{base_url}/chat/", timeout=15)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base_url}/chat/",
        data={"queue": str(queue_id), "name": name, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=15,
    )
    assert response.status_code == 302, f"chat start failed ({response.status_code}): {response.text[:300]}"
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


@dataclass
class ChatSocket:
    """A socket that stays up like LiveSocket; `kind` is "operator" or "visitor"."""

    base_url: str
    path: str
    kind: str
    cookies: dict[str, str] = field(default_factory=dict)
    origin: str | None = None
    min_delay: float = 0.2
    max_delay: float = 3.0
    heartbeat: float = 2.0  # LiveSocket pings every 25 s; the server answers a ping with what was missed
    frames: list[dict] = field(default_factory=list)
    last_seq: dict[int, int] = field(default_factory=dict)
    # Called with every frame as it arrives (an Outbox listens here).
    listeners: list = field(default_factory=list)
    connects: int = 0
    closes: list[int | None] = field(default_factory=list)

    def __post_init__(self):
        self.origin = self.origin or self.base_url
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None
        self._open = asyncio.Event()
        self._stopped = False
        self._arrived = asyncio.Condition()

    def resume_query(self) -> str:
        if not self.last_seq:
            return ""
        if self.kind == "visitor":
            return f"?last_seq={max(self.last_seq.values())}"
        return "?resume=" + ",".join(f"{e}:{s}" for e, s in self.last_seq.items())

    async def start(self, timeout: float = 15) -> ChatSocket:
        self._session = aiohttp.ClientSession(cookies=self.cookies)
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._open.wait(), timeout)
        return self

    async def _run(self) -> None:
        attempt = 0
        while not self._stopped:
            try:
                url = ws_url(self.base_url, self.path) + self.resume_query()
                async with self._session.ws_connect(url, origin=self.origin, heartbeat=None) as ws:
                    self._ws = ws
                    attempt = 0
                    pinger = asyncio.create_task(self._ping(ws))
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        await self._receive(json.loads(message.data))
                    pinger.cancel()
                    self.closes.append(ws.close_code)
            except (TimeoutError, aiohttp.ClientError, OSError):
                self.closes.append(None)
            finally:
                self._ws = None
                self._open.clear()
            if self._stopped:
                return
            ceiling = min(self.max_delay, self.min_delay * 2**attempt)
            attempt += 1
            await asyncio.sleep(max(0.05, random.random() * ceiling))

    async def _ping(self, ws) -> None:
        while not ws.closed:
            await asyncio.sleep(self.heartbeat)
            with contextlib.suppress(Exception):
                await ws.send_str(json.dumps({"type": "ping"}))

    async def _receive(self, frame: dict) -> None:
        if frame.get("type") == "hello":
            self.connects += 1
            self._open.set()
        if frame.get("type") == "message":
            engagement_id = frame["engagement_id"]
            self.last_seq[engagement_id] = max(self.last_seq.get(engagement_id, 0), frame["seq"])
        async with self._arrived:
            self.frames.append(frame)
            self._arrived.notify_all()
        for listener in self.listeners:
            await listener(frame)

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._ws.closed and self._open.is_set()

    async def send(self, frame: dict) -> None:
        await self._ws.send_str(json.dumps(frame))

    async def wait_open(self, timeout: float = 20) -> None:
        await asyncio.wait_for(self._open.wait(), timeout)

    async def wait_for(self, predicate, timeout: float = 10, what: str = "frame") -> dict:
        """The first recorded frame matching `predicate` (already here or arriving within `timeout`)."""

        def found():
            return next((f for f in self.frames if predicate(f)), None)

        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(found), timeout)
            except TimeoutError:
                raise AssertionError(f"{self.kind} socket: no {what} within {timeout}s; got {self.frames[-10:]}")
            return found()

    def messages(self, engagement_id: int | None = None) -> list[dict]:
        return [
            f
            for f in self.frames
            if f.get("type") == "message" and (engagement_id is None or f["engagement_id"] == engagement_id)
        ]

    def bodies(self, engagement_id: int | None = None) -> list[str]:
        return [f["body"] for f in self.messages(engagement_id)]

    async def close(self) -> None:
        self._stopped = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._session is not None:
            await self._session.close()


def operator_socket(base_url: str, session: requests.Session, **kwargs) -> ChatSocket:
    return ChatSocket(base_url, "/ws/operator/", "operator", cookies=session.cookies.get_dict(), **kwargs)


def visitor_socket(base_url: str, token: str, **kwargs) -> ChatSocket:
    return ChatSocket(base_url, f"/ws/visitor/{token}/", "visitor", **kwargs)


# Errors after which sending the same line again cannot succeed: the line is marked failed.
FINAL_ERRORS = {"ended", "not_owner", "too_long", "empty", "invalid", "bad_frame", "not_found"}


@dataclass
class Outbox:
    """What static/js/core/outbox.js does, for tests that drive the protocol from Python.

    Every line gets a client id and stays pending until the server acks it (or its own `message`
    frame comes back); each reconnect sends every pending line again, in order; a passing error
    is retried after a moment, a final one marks the line failed.
    """

    socket: ChatSocket
    engagement_id: int | None = None  # the operator's engagement (the visitor's is the token's)
    retry_after: float = 0.5
    pending: dict[str, str] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resent: int = 0  # lines sent again after a reconnect (they were in flight when the socket died)

    def __post_init__(self):
        self.socket.listeners.append(self._on_frame)

    async def say(self, body: str) -> str:
        client_id = uuid.uuid4().hex
        self.pending[client_id] = body
        await self._send(client_id)
        return client_id

    async def _send(self, client_id: str) -> None:
        if client_id not in self.pending or not self.socket.is_open:
            return  # sent again when the socket is back (hello)
        frame = {"type": "message.send", "body": self.pending[client_id], "client_id": client_id}
        if self.engagement_id is not None:
            frame["engagement_id"] = self.engagement_id
        with contextlib.suppress(Exception):  # the socket died under us: the reconnect sends it
            await self.socket.send(frame)

    async def _retry_later(self, client_id: str) -> None:
        await asyncio.sleep(self.retry_after)
        await self._send(client_id)

    async def _on_frame(self, frame: dict) -> None:
        kind, client_id = frame.get("type"), frame.get("client_id")
        if kind == "hello":
            for pending_id in list(self.pending):
                self.resent += 1
                await self._send(pending_id)
        elif kind in ("message.ack", "message") and client_id in self.pending:
            self.acked[client_id] = frame["seq"]
            del self.pending[client_id]
        elif kind == "error" and client_id in self.pending:
            if frame["code"] in FINAL_ERRORS:
                self.failed[client_id] = frame["code"]
                del self.pending[client_id]
            else:
                asyncio.get_running_loop().create_task(self._retry_later(client_id))

    async def settled(self, timeout: float = 60) -> None:
        """Wait until nothing is pending (every line acked or failed)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.pending:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.socket.kind}: {len(self.pending)} lines still pending")
            await asyncio.sleep(0.1)
