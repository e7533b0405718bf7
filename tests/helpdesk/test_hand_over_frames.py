"""What a hand-over sends after its commit, and in which order, on the real Redis channel layer."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.layers import get_channel_layer

from helpdesk.models import Availability, Engagement, Media
from helpdesk.realtime import operator_group
from helpdesk.services.engagements import hand_over, start_chat
from tests.factories import OperatorFactory, QueueFactory, TeamFactory
from tests.transfers.conftest import give_engagement

pytestmark = pytest.mark.django_db(transaction=True)


class SharedListener:
    """One channel in several operator groups: frames arrive in the order they were published."""

    def __init__(self, *operator_ids: int):
        self.groups = [operator_group(pk) for pk in operator_ids]
        self.frames: list[tuple[str, dict]] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)

    async def _listen(self):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in self.groups:
            await layer.group_add(group, channel)
        self._ready.set()
        receiving = asyncio.ensure_future(self._collect(layer, channel))
        while not self._stop.is_set():
            await asyncio.sleep(0.05)
        receiving.cancel()

    async def _collect(self, layer, channel):
        while True:
            frame = (await layer.receive(channel))["frame"]
            self.frames.append((frame["type"], frame))

    def __enter__(self):
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def wait_for(self, predicate, timeout: float = 5.0) -> None:
        for _ in range(int(timeout / 0.02)):
            if any(predicate(frame) for _, frame in self.frames):
                return
            threading.Event().wait(0.02)
        raise AssertionError(f"not received; got {[t for t, _ in self.frames]}")


def test_the_new_owner_gets_the_chat_and_its_history_before_the_old_owner_gets_the_next_waiting_chat():
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], is_default=True)
    alice = OperatorFactory(site=team.site, teams=[team], available=[Media.CHAT], chat_capacity=1)
    bob = OperatorFactory(site=team.site, teams=[team], available=[Media.CHAT])
    handed = give_engagement(owner=alice, queue=queue)
    Availability.objects.filter(operator=bob, media=Media.CHAT).update(status=Availability.Status.AWAY)
    waiting = start_chat(queue=queue, visitor_name="Wendy Waiting")
    assert Engagement.objects.get(pk=waiting.pk).state == Engagement.State.QUEUED  # Alice is full, Bob away

    with SharedListener(alice.pk, bob.pk) as listener:
        hand_over(engagement_id=handed.pk, to_operator_id=bob.pk)
        listener.wait_for(lambda f: f["type"] == "engagement.assigned" and f["engagement"]["id"] == waiting.pk)

    order = [
        (kind, frame.get("engagement", {}).get("id") or frame.get("engagement_id"))
        for kind, frame in listener.frames
        if kind in ("engagement.assigned", "engagement.detail")
    ]
    assert order.index(("engagement.assigned", handed.pk)) < order.index(("engagement.assigned", waiting.pk))
    assert order.index(("engagement.detail", handed.pk)) < order.index(("engagement.assigned", waiting.pk))
    assert Engagement.objects.get(pk=waiting.pk).owner_id == alice.pk
    assert Engagement.objects.get(pk=handed.pk).owner_id == bob.pk


def test_an_accepted_transfer_brings_its_history_first_and_transfer_now_sends_the_line_then_the_assignment():
    """Accepting sends the history so far (`transfer.history`). At Transfer Now the new owner gets the
    hand-over's system line, then `engagement.assigned` (no `detail_follows`) and no 200-line
    `engagement.detail`: their console holds the history and the line, draws the chat in one go,
    and asks only for what was written in between (`engagement.open` with `after_seq`)."""
    from helpdesk.selectors import engagement_detail
    from helpdesk.services.engagements import post_message
    from transfers import services as transfers

    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], is_default=True)
    alice = OperatorFactory(site=team.site, teams=[team], available=[Media.CHAT])
    bob = OperatorFactory(site=team.site, teams=[team], available=[Media.CHAT], display_name="Bob Baker")
    engagement = give_engagement(owner=alice, queue=queue)
    for body in ("I need help", "with my order"):
        post_message(engagement_id=engagement.pk, sender="visitor", body=body)
    transfer = transfers.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)

    with SharedListener(bob.pk) as listener:
        transfers.accept_transfer(transfer_id=transfer.pk, operator=bob)
        listener.wait_for(lambda f: f["type"] == "transfer.history")
        post_message(engagement_id=engagement.pk, sender="visitor", body="are you there?")  # reaches Alice only
        transfers.transfer_now(transfer_id=transfer.pk, operator=alice)
        listener.wait_for(lambda f: f["type"] == "engagement.assigned")
        threading.Event().wait(0.3)  # anything else the hand-over sent has arrived by now

    kinds = [kind for kind, _ in listener.frames]
    [history] = [frame for kind, frame in listener.frames if kind == "transfer.history"]
    assert history["transfer_id"] == transfer.pk and history["engagement_id"] == engagement.pk
    assert [m["body"] for m in history["messages"]] == ["I need help", "with my order"]
    [line] = [frame for kind, frame in listener.frames if kind == "message"]
    assert line["sender"] == "system" and line["body"] == "You are now chatting with Bob Baker."
    assert kinds.index("transfer.history") < kinds.index("message") < kinds.index("engagement.assigned")
    [assigned] = [frame for kind, frame in listener.frames if kind == "engagement.assigned"]
    assert assigned["detail_follows"] is False
    assert assigned["engagement"]["last_seq"] == line["seq"] == 4
    assert "engagement.detail" not in kinds
    # What the console asks for: the lines after the history it holds.
    detail = engagement_detail(Engagement.objects.get(pk=engagement.pk), after_seq=history["messages"][-1]["seq"])
    assert [m["body"] for m in detail["messages"]] == ["are you there?", "You are now chatting with Bob Baker."]
    assert [o["operator_id"] for o in detail["owners"]] == [alice.pk, bob.pk]


def test_the_history_is_not_sent_once_the_transfer_is_no_longer_the_accepting_operators():
    """Built after the commit: a transfer cancelled (or handed over) before the read sends nothing."""
    from transfers import services as transfers
    from transfers.selectors import history_for_accepted_target

    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], is_default=True)
    alice = OperatorFactory(site=team.site, teams=[team], available=[Media.CHAT])
    bob = OperatorFactory(site=team.site, teams=[team], available=[Media.CHAT])
    engagement = give_engagement(owner=alice, queue=queue)
    transfer = transfers.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    transfers.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert history_for_accepted_target(transfer_id=transfer.pk, operator_id=bob.pk)["messages"] == []
    assert history_for_accepted_target(transfer_id=transfer.pk, operator_id=alice.pk) is None
    transfers.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    assert history_for_accepted_target(transfer_id=transfer.pk, operator_id=bob.pk) is None
