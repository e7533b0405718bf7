"""Delivery of realtime frames to sockets, after the transaction that caused them commits.

Every socket joins groups named here; each app's `events.py` hands frames (built by its
`frames.py`) to `publish_to_operator` / `publish_to_engagement`. Consumers forward any
`frame.send` message to their client unchanged. The frames are documented in docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable

import redis.exceptions
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import transaction

logger = logging.getLogger(__name__)


def operator_group(operator_id: int) -> str:
    return f"operator.{operator_id}"


def engagement_group(engagement_id: int) -> str:
    """The visitor's (or caller's) side of an engagement."""
    return f"engagement.{engagement_id}"


def site_group(site_id: int) -> str:
    """Every operator console of a site: presence and queue overview changes."""
    return f"site.{site_id}"


# The event loop of this server process (Daphne), once a socket consumer has told us. Sync code
# running in its worker threads then hands frames to the loop without waiting for Redis.
_server_loop: asyncio.AbstractEventLoop | None = None


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by socket consumers on connect, from the server's loop."""
    global _server_loop
    _server_loop = loop


def _in_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# A send that Redis does not answer (hung, partitioned) gives up after this long: it is logged, and
# the receivers get the frame from the database anyway (ping catch-up, gap fill, resume).
SEND_TIMEOUT_SECONDS = 5.0


async def group_send(group: str, message: dict) -> None:
    """`group_send`, tried twice, and given up after SEND_TIMEOUT_SECONDS: after Redis restarts, the
    first command on a pooled connection fails with ConnectionError and the pool drops that connection
    (the second goes through); a Redis that does not answer at all must not hold the sender forever."""

    async def twice() -> None:
        try:
            await get_channel_layer().group_send(group, message)
        except (redis.exceptions.ConnectionError, ConnectionError, OSError):
            await get_channel_layer().group_send(group, message)

    await asyncio.wait_for(twice(), timeout=SEND_TIMEOUT_SECONDS)


async def group_send_many(messages: list[tuple[str, dict]]) -> None:
    """Many `group_send`s at once, tried twice and bounded by SEND_TIMEOUT_SECONDS like one.

    On the Redis pub/sub layer they go as one pipeline of PUBLISHes per shard: its own group_send
    holds a per-connection lock for a round trip each, so 600 frames of a bulk expiry took ~100 ms
    one after another; pipelined they take a few (docs/performance.md). This reaches into
    channels_redis 4.3's RedisPubSubChannelLayer (`_get_layer`, its shards' `_lock` and client),
    which requirements.txt pins; tests/helpdesk/test_realtime.py fails if that changes. Other
    layers get the sends in parallel.
    """
    layer = get_channel_layer()

    async def all_of_them() -> None:
        if isinstance(layer, RedisPubSubChannelLayer):
            await _publish_pipelined(layer, messages)
        else:
            await asyncio.gather(*(layer.group_send(group, message) for group, message in messages))

    async def twice() -> None:
        try:
            await all_of_them()
        except (redis.exceptions.ConnectionError, ConnectionError, OSError):
            await all_of_them()  # these frames carry states, not increments: one sent twice draws the same

    await asyncio.wait_for(twice(), timeout=SEND_TIMEOUT_SECONDS)


async def _publish_pipelined(layer: RedisPubSubChannelLayer, messages: list[tuple[str, dict]]) -> None:
    loop_layer = layer._get_layer()
    by_shard: dict[object, list[tuple[str, bytes]]] = {}
    serialized: dict[int, bytes] = {}  # a frame sent to several groups is packed once
    for group, message in messages:
        channel = loop_layer._get_group_channel_name(group)
        if id(message) not in serialized:
            serialized[id(message)] = layer.serialize(message)
        by_shard.setdefault(loop_layer._get_shard(channel), []).append((channel, serialized[id(message)]))
    for shard, publishes in by_shard.items():
        async with shard._lock:
            shard._ensure_redis()
            pipeline = shard._redis.pipeline(transaction=False)
            for channel, data in publishes:
                pipeline.publish(channel, data)
            await pipeline.execute()


def send(group: str, frame: dict) -> None:
    """Send a frame now (see `deliver`)."""
    deliver(group, {"type": "frame.send", "frame": frame})


def deliver(group: str, message: dict) -> None:
    """Send a channel message now. In a server worker thread the send is handed to the server's loop,
    not awaited: the thread goes back to work at once, and messages still leave in the order they were
    handed over. Consumers put chat lines back in seq order anyway (a late one is filled from the database).
    """
    loop = _server_loop
    if loop is not None and loop.is_running() and not _in_an_event_loop() and _hand_to_loop(loop, group, message):
        return
    try:
        _send_to_the_end(group_send, group, message)
    except Exception:  # a dead Redis must not undo a committed change; clients resume by seq
        logger.exception("Could not deliver %s to %s", describe(message), group)


def _send_to_the_end(send: Callable[..., Awaitable[None]], *args) -> None:
    """Run an async send from sync code and wait for it (each send is bounded by SEND_TIMEOUT_SECONDS).

    In a process with no server loop (a Celery worker, beat, a command, a test), on this process's
    sender loop (`_sender_loop`). In a server worker thread whose loop has stopped (Daphne shutting
    down while a socket's last act commits), not through async_to_sync: inside a sync_to_async
    thread it schedules the send on the server's loop even when that loop no longer runs, and waits
    for it forever, so the process never exited (Daphne killed after 15 s in tests, a py-spy dump
    showed the thread). There the send runs on a loop of this thread's own.
    """
    if _server_loop is None:
        sending = asyncio.run_coroutine_threadsafe(send(*args), _sender_loop())
        sending.result(timeout=SEND_TIMEOUT_SECONDS * 2 + 1)  # a backstop: the send gives up after SEND_TIMEOUT_SECONDS
    elif not _server_loop.is_running():
        asyncio.run(send(*args))
    else:
        async_to_sync(send)(*args)


_sender: tuple[int, asyncio.AbstractEventLoop] | None = None  # (the process it runs in, the loop)
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's loop for sends from sync code, running in a daemon thread of its own.

    async_to_sync ran each send on a new loop in a new thread, and the channel layer, which keeps a
    Redis connection per loop, connected afresh every time: ~7 ms per send on the 2-core box, ~10 ms
    of the bulk expiry's 600 frames (docs/performance.md). Kept, the loop keeps its connection; a
    forked child (a prefork pool process) starts a loop of its own, its parent's thread not having
    come along.
    """
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="realtime-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


# Messages worker threads handed to the server's loop, sent in the order they came, each burst as
# one pipeline (`group_send_many`): an act's commit callbacks hand over several frames within
# microseconds, and the layer's own group_send would send them one round trip after another,
# each behind its per-connection lock (a hand-over's frames to the old owner went first, the new
# owner's waited). While a pipeline is out, the next burst gathers.
_handed: deque[tuple[str, dict]] = deque()
_handed_lock = threading.Lock()
_flushing_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled or running on


def _hand_to_loop(loop: asyncio.AbstractEventLoop, group: str, message: dict) -> bool:
    """Queue a message for the loop's flush (scheduling one if none is); False if the loop is closing."""
    global _flushing_on
    with _handed_lock:
        _handed.append((group, message))
        if _flushing_on is loop:
            return True
        _flushing_on = loop
    try:
        loop.call_soon_threadsafe(lambda: loop.create_task(_flush_handed()))
    except RuntimeError:  # the loop closed between the check and now: send from this thread instead
        with _handed_lock:
            _handed.remove((group, message))
            _flushing_on = None
        return False
    return True


async def _flush_handed() -> None:
    global _flushing_on
    while True:
        with _handed_lock:
            batch = list(_handed)
            _handed.clear()
            if not batch:
                _flushing_on = None
                return
        try:
            await group_send_many(batch)
        except Exception as error:  # a committed change stands; clients resume by seq
            kinds = ", ".join(sorted({describe(message) for _, message in batch}))
            logger.error("Could not deliver %s messages (%s): %r", len(batch), kinds, error)


def describe(message: dict) -> str:
    return message.get("frame", {}).get("type") or message.get("type", "?")


async def send_now(group: str, frame: dict) -> None:
    """From async code that has already committed: send and wait (errors are logged, not raised)."""
    try:
        await group_send(group, {"type": "frame.send", "frame": frame})
    except Exception:  # as in send: a committed change stands; clients resume by seq
        logger.exception("Could not publish %s to %s", frame.get("type"), group)


# Per event loop: the last background send of each ordering key (an engagement), so sends of one
# engagement leave in the order they were asked for while other engagements' go in parallel.
_send_chains: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = weakref.WeakKeyDictionary()


def send_soon(sends: list[tuple[str, dict]], *, order_key: object) -> None:
    """From async code that has already committed: send in the background, never making the caller wait.

    The socket that posted a chat line must answer its sender at once even when Redis is slow or
    gone; sends sharing `order_key` still leave in order (each waits for the one before it). The
    sends of one call go as one pipeline (a chat line's two groups: one round trip, not two).
    """
    wrapped: dict[int, dict] = {}  # one message per frame, so a frame for two groups is packed once
    messages = [
        (group, wrapped.setdefault(id(frame), {"type": "frame.send", "frame": frame})) for group, frame in sends
    ]
    loop = asyncio.get_running_loop()
    chains = _send_chains.setdefault(loop, {})
    previous = chains.get(order_key)

    async def run() -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await group_send_many(messages)
        except Exception as error:  # a committed change stands; clients resume by seq
            groups = ", ".join(group for group, _ in messages)
            logger.error("Could not publish %s to %s: %r", describe(messages[0][1]), groups, error)

    task = loop.create_task(run())
    chains[order_key] = task

    def forget(done: asyncio.Task) -> None:
        if chains.get(order_key) is done:
            del chains[order_key]

    task.add_done_callback(forget)


def publish(group: str, frame: dict) -> None:
    """Send `frame` to `group` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send(group, frame), robust=True)


def send_after_commit(group: str, build: Callable[[], dict | None]) -> None:
    """Once the transaction commits, build a frame from the committed state and send it (None: nothing)."""

    def build_and_send() -> None:
        frame = build()
        if frame is not None:
            send(group, frame)

    transaction.on_commit(build_and_send, robust=True)


def publish_many(pairs: list[tuple[str, dict]]) -> None:
    """Send many (group, frame) pairs on commit in one trip to the channel layer (`group_send_many`).

    For acts that touch many rows at once (the bulk transfer expiry); delivery as `publish`.
    """
    messages = [(group, {"type": "frame.send", "frame": frame}) for group, frame in pairs]

    def send_batch() -> None:
        try:
            _send_to_the_end(group_send_many, messages)
        except Exception:  # a dead Redis must not undo a committed change; consoles resync on hello
            logger.exception("Could not publish %s frames", len(pairs))

    if pairs:
        transaction.on_commit(send_batch, robust=True)


def publish_to_operator(operator_id: int, frame: dict) -> None:
    publish(operator_group(operator_id), frame)


def publish_to_engagement(engagement_id: int, frame: dict) -> None:
    publish(engagement_group(engagement_id), frame)


def publish_to_site(site_id: int, frame: dict) -> None:
    publish(site_group(site_id), frame)


def end_operator_sessions(operator_id: int) -> None:
    """After commit, close the operator's open sockets (they logged out): a channel message, not a frame."""
    transaction.on_commit(lambda: deliver(operator_group(operator_id), {"type": "session.ended"}), robust=True)
