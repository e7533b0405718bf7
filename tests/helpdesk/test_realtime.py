"""Delivery of many frames at once (helpdesk.realtime.group_send_many) on the real Redis pub/sub layer."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

from helpdesk import realtime
from helpdesk.realtime import engagement_group, group_send_many, operator_group


@pytest.fixture
def layer():
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer), "the product's default layer is the one pipelined"
    return layer


def count_pipelines(layer, group: str):
    """Record the pipelines the shard serving `group` opens (from the loop that sends); `del
    shard._redis.pipeline` afterwards puts the shard back."""
    shard = layer._get_layer()._get_shard(layer._get_layer()._get_group_channel_name(group))
    shard._ensure_redis()
    opened = []
    original = shard._redis.pipeline

    def counting_pipeline(*args, **kwargs):
        opened.append(original(*args, **kwargs))
        return opened[-1]

    shard._redis.pipeline = counting_pipeline
    return shard, opened


def test_many_frames_reach_every_group_in_order_in_one_pipeline(layer):
    groups = [operator_group(900_000 + i) for i in range(50)]
    messages = [(group, {"type": "frame.send", "frame": {"n": n, "to": group}}) for n in range(4) for group in groups]

    async def scenario():
        channels = {}
        for group in groups:
            channels[group] = await layer.new_channel()
            await layer.group_add(group, channels[group])
        shard, sent_commands = count_pipelines(layer, groups[0])
        try:
            await group_send_many(messages)
        finally:
            del shard._redis.pipeline
        received = {}
        for group, channel in channels.items():
            received[group] = [(await asyncio.wait_for(layer.receive(channel), 5))["frame"] for _ in range(4)]
            await layer.group_discard(group, channel)
        return received, sent_commands

    received, pipelines = asyncio.run(scenario())
    assert len(pipelines) == 1, "one pipeline for the one shard"
    for group in groups:
        assert received[group] == [{"n": n, "to": group} for n in range(4)]


def test_nothing_to_send_sends_nothing(layer):
    asyncio.run(group_send_many([]))


def test_frames_handed_over_by_a_worker_thread_leave_in_order_as_one_pipeline(layer, monkeypatch):
    """An act's commit callbacks run in a Daphne worker thread and hand their frames to the server's
    loop: they leave in the order they came, a burst as one pipeline instead of a round trip each."""
    groups = [operator_group(910_000 + i) for i in range(3)]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)

    async def subscribe():
        channels = {group: await layer.new_channel() for group in groups}
        for group, channel in channels.items():
            await layer.group_add(group, channel)
        shard, opened = count_pipelines(layer, groups[0])
        return channels, shard, opened

    async def collect(channels, shard):
        received = {}
        for group, channel in channels.items():
            received[group] = [(await asyncio.wait_for(layer.receive(channel), 5))["frame"]["n"] for _ in range(10)]
            await layer.group_discard(group, channel)
        del shard._redis.pipeline
        return received

    try:
        channels, shard, pipelines = on_loop(subscribe())
        monkeypatch.setattr(realtime, "_server_loop", loop)
        hold = threading.Event()
        loop.call_soon_threadsafe(hold.wait, 5)  # the loop is busy while the burst is handed over
        for n in range(10):
            for group in groups:
                realtime.send(group, {"n": n})
        hold.set()
        received = on_loop(collect(channels, shard))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert received == {group: list(range(10)) for group in groups}
    assert len(pipelines) == 1, "the burst of 30 frames went as one pipeline"


def test_a_chat_lines_groups_get_it_in_one_pipeline_and_lines_keep_their_order(layer):
    """`send_soon` (the async chat path): a line for the visitor's and the owner's group goes as one
    pipeline, packed once; lines of one engagement leave in the order they were posted."""
    groups = [engagement_group(920_001), operator_group(920_002)]

    async def scenario():
        channels = {group: await layer.new_channel() for group in groups}
        for group, channel in channels.items():
            await layer.group_add(group, channel)
        shard, pipelines = count_pipelines(layer, groups[0])
        packed, original_serialize = [], layer.serialize

        def counting_serialize(message):
            packed.append(message["frame"]["seq"])
            return original_serialize(message)

        layer.serialize = counting_serialize
        try:
            for seq in range(1, 6):
                line = {"type": "message", "seq": seq}
                realtime.send_soon([(group, line) for group in groups], order_key=920_001)
            received = {
                group: [(await asyncio.wait_for(layer.receive(channel), 5))["frame"]["seq"] for _ in range(5)]
                for group, channel in channels.items()
            }
        finally:
            del shard._redis.pipeline, layer.serialize
        for group, channel in channels.items():
            await layer.group_discard(group, channel)
        return received, pipelines, packed

    received, pipelines, packed = asyncio.run(scenario())
    assert received == {group: [1, 2, 3, 4, 5] for group in groups}
    assert len(pipelines) == 5, "one pipeline per line, both groups in it"
    assert packed == [1, 2, 3, 4, 5], "each line packed once for its two groups"


def test_a_worker_thread_publishing_after_the_server_loop_stopped_sends_and_returns(layer, monkeypatch):
    """Found in the suite (a Daphne that did not exit on SIGTERM, killed after 15 s; py-spy showed a
    sync_to_async thread waiting in async_to_sync): a socket's last act commits while Daphne shuts
    down, and its frame must still leave, from the worker thread, without waiting on the stopped loop."""
    from asgiref.sync import sync_to_async

    group = operator_group(920_000)
    server_loop = asyncio.new_event_loop()
    monkeypatch.setattr(realtime, "_server_loop", server_loop)
    done = threading.Event()

    def last_act_of_a_socket():
        # In a sync_to_async thread of the server's loop, which stops now (not closed: shutting down).
        server_loop.call_soon_threadsafe(server_loop.stop)
        while server_loop.is_running():
            pass
        realtime.send(group, {"n": 1})
        done.set()

    def serve():
        with contextlib.suppress(RuntimeError):  # "Event loop stopped before Future completed": the shutdown
            server_loop.run_until_complete(sync_to_async(last_act_of_a_socket)())

    async def receive_one():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            threading.Thread(target=serve, daemon=True).start()
            return (await asyncio.wait_for(layer.receive(channel), 10))["frame"]
        finally:
            await layer.group_discard(group, channel)

    try:
        frame = asyncio.run(receive_one())
        assert done.wait(5), "the worker thread is still waiting on the stopped loop"
    finally:
        server_loop.close()
    assert frame == {"n": 1}


def listen_to(layer, group: str, count: int, act) -> list[dict]:
    """Join `group`, run `act` (in a thread: it sends from sync code), and receive `count` frames."""

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            acting = threading.Thread(target=act, daemon=True)
            acting.start()
            frames = [(await asyncio.wait_for(layer.receive(channel), 10))["frame"] for _ in range(count)]
            acting.join(10)
            return frames
        finally:
            await layer.group_discard(group, channel)

    return asyncio.run(scenario())


def test_sync_code_with_no_server_loop_sends_on_one_kept_loop(layer, monkeypatch):
    """A worker's sends: async_to_sync gave each a new loop, thread and Redis connection (~7 ms a
    send here); they now go through one loop this process keeps, with its connection."""
    monkeypatch.setattr(realtime, "_server_loop", None)
    group = operator_group(930_000)
    loops = []

    def worker_task():
        for n in range(3):
            realtime.send(group, {"n": n})
            loops.append(realtime._sender_loop())

    assert listen_to(layer, group, 3, worker_task) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len(set(map(id, loops))) == 1 and loops[0].is_running()
    assert loops[0] in layer._layers, "the kept loop keeps its half of the layer (and its connection)"


def test_a_forked_pool_process_sends_on_a_loop_of_its_own(layer, monkeypatch):
    """A prefork pool process is forked from a worker whose sender loop may already run: the loop
    object comes along, its thread does not, and a send handed to it would wait until it timed out."""
    import multiprocessing

    monkeypatch.setattr(realtime, "_server_loop", None)
    group = operator_group(931_000)
    realtime.send(operator_group(931_001), {"warm": True})  # the parent's loop runs now
    child = multiprocessing.get_context("fork").Process(target=realtime.send, args=(group, {"from": "child"}))

    def fork_and_wait():
        child.start()
        child.join(8)

    assert listen_to(layer, group, 1, fork_and_wait) == [{"from": "child"}]
    assert child.exitcode == 0
