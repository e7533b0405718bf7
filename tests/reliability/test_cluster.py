"""Several processes: two Daphne and two Celery workers sharing PostgreSQL and one Redis.

A visitor on one web process, operators on the other, a chat transferred between them; the
Celery workers killed (SIGKILL) with a transfer's expiry in their hands.
"""

import asyncio
import time
from types import SimpleNamespace

import pytest
from django.db import connection

from helpdesk.models import Engagement, Media
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory
from tests.helpdesk.test_health import fetch_health
from tests.processes import CeleryBeat, CeleryWorker, wait_until
from tests.reliability.clients import operator_socket, signed_in_session, start_visitor_chat, visitor_socket
from transfers.models import Transfer, TransferOffer

pytestmark = [pytest.mark.worker]


def test_both_web_processes_are_healthy_with_shared_redis_and_workers(cluster):
    """Each Daphne reaches the database, the shared channel layer and a worker through the broker."""
    for daphne in cluster.daphnes:
        status, body = fetch_health(daphne.url)
        assert status == 200, (body, cluster.logs())
        assert all(value == "OK" for value in body.values()), body


@pytest.fixture
def desk(transactional_db):
    """Alice takes the first chat (Bob is away until she has it); Bob is her transfer target."""
    site = SiteFactory()
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True)
    alice = OperatorFactory(site=site, teams=[team], available=[Media.CHAT], display_name="Alice")
    bob = OperatorFactory(site=site, teams=[team], display_name="Bob")
    return SimpleNamespace(site=site, queue=queue, alice=alice, bob=bob)


def post_json(session, url: str, body: dict | None = None) -> dict:
    response = session.post(url, json=body or {}, headers={"X-CSRFToken": session.cookies["csrftoken"]}, timeout=15)
    assert response.status_code == 200, response.text[:500]
    return response.json()


async def chat_with_alice(desk, *, visitor_url: str, alice_url: str, bob_url: str):
    alice_session = await asyncio.to_thread(signed_in_session, alice_url, desk.alice.user.username)
    bob_session = await asyncio.to_thread(signed_in_session, bob_url, desk.bob.user.username)
    alice = await operator_socket(alice_url, alice_session).start()
    bob = await operator_socket(bob_url, bob_session).start()
    token = await asyncio.to_thread(start_visitor_chat, visitor_url, queue_id=desk.queue.pk, name="Vera")
    visitor = await visitor_socket(visitor_url, token).start()
    assigned = await alice.wait_for(lambda f: f["type"] == "engagement.assigned", what="assignment")
    await bob.send({"type": "availability.set", "media": "chat", "status": "available"})
    await bob.wait_for(lambda f: f["type"] == "availability" and f["operator_id"] == desk.bob.pk)
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        visitor=visitor,
        engagement_id=assigned["engagement"]["id"],
        alice_session=alice_session,
        bob_session=bob_session,
    )


def test_chat_transferred_between_operators_on_different_web_processes(cluster, desk):
    """Visitor and Alice on process 1, Bob on process 2: request, accept, Transfer Now, chat on."""
    web_1, web_2 = cluster.daphnes

    async def scenario():
        chat = await chat_with_alice(desk, visitor_url=web_1.url, alice_url=web_1.url, bob_url=web_2.url)
        try:
            await chat.visitor.send({"type": "message.send", "body": "I need billing"})
            await chat.alice.wait_for(lambda f: f.get("body") == "I need billing")
            requested = await asyncio.to_thread(
                post_json,
                chat.alice_session,
                f"{web_1.url}/transfers/engagements/{chat.engagement_id}/request/",
                {"target_operator_id": desk.bob.pk, "warm_message": "Billing question"},
            )
            transfer_id = requested["transfer"]["id"]
            await chat.bob.wait_for(lambda f: f["type"] == "transfer.offered", what="the offer on process 2")
            await asyncio.to_thread(post_json, chat.bob_session, f"{web_2.url}/transfers/{transfer_id}/accept/")
            await chat.alice.wait_for(
                lambda f: f["type"] == "transfer.updated" and f["transfer"]["state"] == "accepted",
                what="the acceptance on process 1",
            )
            await asyncio.to_thread(post_json, chat.alice_session, f"{web_1.url}/transfers/{transfer_id}/now/")
            await chat.bob.wait_for(lambda f: f["type"] == "engagement.assigned", what="ownership on process 2")
            await chat.alice.wait_for(lambda f: f["type"] == "engagement.released")
            await chat.visitor.wait_for(
                lambda f: f["type"] == "engagement.state" and f.get("operator_name") == "Bob", what="the new operator"
            )
            await chat.bob.send({"type": "message.send", "engagement_id": chat.engagement_id, "body": "Bob here"})
            await chat.visitor.wait_for(lambda f: f.get("body") == "Bob here")
            await chat.visitor.send({"type": "message.send", "body": "thanks Bob"})
            await chat.bob.wait_for(lambda f: f.get("body") == "thanks Bob")
            return chat, transfer_id
        finally:
            for socket in (chat.alice, chat.bob, chat.visitor):
                await socket.close()

    chat, transfer_id = asyncio.run(scenario())
    engagement = Engagement.objects.get(pk=chat.engagement_id)
    assert engagement.owner_id == desk.bob.pk
    assert Transfer.objects.get(pk=transfer_id).state == "completed"
    assert "thanks Bob" not in chat.alice.bodies(), "the old owner must not see the chat after the hand-over"
    seqs = [f["seq"] for f in chat.visitor.messages()]
    assert seqs == sorted(set(seqs))


def transfer_state(transfer_id: int) -> str:
    """Read from a helper thread, closing that thread's connection (the test database is dropped later)."""
    try:
        return Transfer.objects.get(pk=transfer_id).state
    finally:
        connection.close()


def test_workers_killed_with_a_transfer_pending_expire_it_once_when_a_worker_is_back(transactional_db, private_redis):
    """SIGKILL both workers while the expiry task waits in one of them (acks late: not acknowledged).

    With no worker the transfer stays requested past its deadline; a fresh worker (redelivery or
    the beat sweep) expires it exactly once, and the initiator hears of it.
    """
    from tests.processes import Cluster, use_redis

    site = SiteFactory()
    team = TeamFactory(site=site)
    # The answer window is the queue's (made here); the setting only gives new queues their default.
    queue = QueueFactory(site=site, teams=[team], is_default=True, accept_timeout_seconds=5)
    alice = OperatorFactory(site=site, teams=[team], available=[Media.CHAT], display_name="Alice")
    bob = OperatorFactory(site=site, teams=[team], display_name="Bob")
    desk = SimpleNamespace(site=site, queue=queue, alice=alice, bob=bob)
    cluster = Cluster(private_redis, beat=True, TRANSFER_SWEEP_SECONDS="1")
    cluster.start()
    try:
        with use_redis(private_redis.url):
            web_1, web_2 = cluster.daphnes

            async def scenario():
                chat = await chat_with_alice(desk, visitor_url=web_1.url, alice_url=web_1.url, bob_url=web_2.url)
                try:
                    requested = await asyncio.to_thread(
                        post_json,
                        chat.alice_session,
                        f"{web_1.url}/transfers/engagements/{chat.engagement_id}/request/",
                        {"target_operator_id": desk.bob.pk},
                    )
                    transfer_id = requested["transfer"]["id"]
                    await chat.bob.wait_for(lambda f: f["type"] == "transfer.offered")
                    await asyncio.sleep(0.5)  # the expiry task (eta) is now held unacknowledged by a worker
                    for worker in cluster.workers:
                        worker.kill()
                    await asyncio.sleep(7)  # past the 5 s deadline, with no worker at all
                    stuck = await asyncio.to_thread(transfer_state, transfer_id)
                    replacement = await asyncio.to_thread(CeleryWorker(name="replacement", **cluster.env).start)
                    cluster.workers.append(replacement)
                    await chat.alice.wait_for(
                        lambda f: f["type"] == "transfer.updated" and f["transfer"]["state"] == "expired",
                        timeout=30,
                        what="the expiry after the workers died",
                    )
                    await chat.bob.wait_for(lambda f: f["type"] == "transfer.offer_ended", timeout=10)
                    return transfer_id, stuck
                finally:
                    for socket in (chat.alice, chat.bob, chat.visitor):
                        await socket.close()

            transfer_id, stuck = asyncio.run(scenario())
            wait_until(lambda: Transfer.objects.get(pk=transfer_id).state == "expired", timeout=10)
    finally:
        logs = cluster.logs()
        cluster.stop()
    assert stuck == "requested", "nothing may expire it while no worker runs"
    offers = TransferOffer.objects.filter(transfer_id=transfer_id)
    assert [o.outcome for o in offers] == ["expired"], logs[-3000:]
    assert Transfer.objects.get(pk=transfer_id).engagement.owner_id == alice.pk


async def supervise(cluster) -> None:
    """What production does for workers: systemd's Restart=always (or Kubernetes) starts again one
    that exited, and a liveness probe (`celery inspect ping`) replaces one that stays up but no
    longer answers on the broker. After a Redis restart a Celery 5.7 worker holding an ETA task
    usually exits (finding R8) and now and then lingers without answering; both are repaired."""
    import socket as sockets

    from helpdesk.celery import app

    misses = [0] * len(cluster.workers)
    while True:
        for i, worker in enumerate(cluster.workers):
            healthy = worker.running
            if healthy:
                node = worker.args[worker.args.index("-n") + 1].replace("%h", sockets.gethostname())
                replies = await asyncio.to_thread(app.control.ping, destination=[node], timeout=2)
                misses[i] = 0 if replies else misses[i] + 1
                healthy = misses[i] < 3
            if not healthy:
                worker.kill()
                replacement = CeleryWorker(name=f"restarted{i}", **cluster.env)
                cluster.workers[i] = replacement
                misses[i] = 0
                await asyncio.to_thread(replacement.start)
        if cluster.beat is not None and not cluster.beat.running:
            cluster.beat = CeleryBeat(**cluster.env)
            cluster.beat.start()
        await asyncio.sleep(0.5)


def test_redis_restarted_with_a_transfer_pending_the_beat_sweep_expires_it_once(transactional_db, private_redis):
    """Redis (broker and channel layer) killed and restarted, without persistence, before a pending
    transfer's deadline: the expiry task queued for its deadline is gone with Redis (and the
    worker drops the ETA tasks it held when its broker connection breaks). The beat sweep, a fact
    in the database, expires it once after the deadline, and the initiator's socket, which stays
    up or reconnects by itself, gets the frame.

    The worker is run as production must run it, under a supervisor that restarts it when it
    exits: with Celery/kombu 5.7.0 a worker holding an unacknowledged task (an ETA timer always
    is) dies on the broker connection loss (finding R8; see the xfail test below).
    """
    from tests.processes import Cluster, use_redis

    site = SiteFactory()
    team = TeamFactory(site=site)
    accept_timeout = 8
    # The answer window is the queue's (made here); the setting only gives new queues their default.
    queue = QueueFactory(site=site, teams=[team], is_default=True, accept_timeout_seconds=accept_timeout)
    alice = OperatorFactory(site=site, teams=[team], available=[Media.CHAT], display_name="Alice")
    bob = OperatorFactory(site=site, teams=[team], display_name="Bob")
    desk = SimpleNamespace(site=site, queue=queue, alice=alice, bob=bob)
    cluster = Cluster(private_redis, workers=1, beat=True, TRANSFER_SWEEP_SECONDS="1")
    cluster.start()
    try:
        with use_redis(private_redis.url):
            web_1, web_2 = cluster.daphnes

            async def scenario():
                chat = await chat_with_alice(desk, visitor_url=web_1.url, alice_url=web_1.url, bob_url=web_2.url)
                try:
                    loop = asyncio.get_running_loop()
                    requested = await asyncio.to_thread(
                        post_json,
                        chat.alice_session,
                        f"{web_1.url}/transfers/engagements/{chat.engagement_id}/request/",
                        {"target_operator_id": desk.bob.pk},
                    )
                    requested_at = loop.time()
                    transfer_id = requested["transfer"]["id"]
                    await chat.bob.wait_for(lambda f: f["type"] == "transfer.offered", what="the offer")
                    await asyncio.sleep(0.5)  # the expiry task (eta) has reached the broker and the worker
                    await asyncio.to_thread(private_redis.restart, 2)  # SIGKILL, 2 s down, empty on return
                    restarted_after = loop.time() - requested_at
                    supervisor = asyncio.create_task(supervise(cluster))
                    assert restarted_after < accept_timeout - 1, f"restart took {restarted_after:.1f}s"
                    before_deadline = await asyncio.to_thread(transfer_state, transfer_id)
                    # First the database (the sweep did its work), then the frame (it reached her):
                    # a failure then says which of the two went missing.
                    for _ in range((accept_timeout + 30) * 4):
                        if await asyncio.to_thread(transfer_state, transfer_id) == "expired":
                            break
                        await asyncio.sleep(0.25)
                    else:
                        raise AssertionError(f"never expired in the database:\n{cluster.logs()[-6000:]}")
                    expired = await chat.alice.wait_for(
                        lambda f: f["type"] == "transfer.updated" and f["transfer"]["state"] == "expired",
                        timeout=15,
                        what="the expiry frame (expired in the database)",
                    )
                    told_after = loop.time() - requested_at
                    await chat.bob.wait_for(lambda f: f["type"] == "transfer.offer_ended", timeout=10)
                    await asyncio.sleep(3)  # further sweeps run: none may expire it again
                    supervisor.cancel()
                    return transfer_id, before_deadline, expired, told_after, chat
                finally:
                    for socket in (chat.alice, chat.bob, chat.visitor):
                        await socket.close()

            transfer_id, before_deadline, expired, told_after, chat = asyncio.run(scenario())
    finally:
        logs = cluster.logs()
        cluster.stop()
    assert before_deadline == "requested", "nothing may end it before its deadline"
    assert told_after >= accept_timeout - 0.5, f"told {told_after:.1f}s after the request"
    transfer = Transfer.objects.get(pk=transfer_id)
    assert transfer.state == "expired"
    assert transfer.expired_by == "sweep", (transfer.expired_by, logs[-3000:])
    offers = TransferOffer.objects.filter(transfer_id=transfer_id)
    assert [o.outcome for o in offers] == ["expired"], logs[-3000:]
    assert transfer.engagement.owner_id == alice.pk
    expiries = [f for f in chat.alice.frames if f["type"] == "transfer.updated" and f["transfer"]["state"] == "expired"]
    assert len(expiries) == 1, expiries
    assert expired["transfer"]["id"] == transfer_id


@pytest.mark.xfail(
    strict=False,
    reason="finding R8: Celery/kombu 5.7.0 worker exits on broker loss while holding an unacked task "
    "(AttributeError in kombu's restore_unacked during the consumer's reconnect); run workers under a "
    "supervisor that restarts them. Not strict: it depends on where the reconnect is when Redis goes "
    "(the whole-suite CI run of 2026-11-30 saw the worker survive once), so an XPASS proves no fix.",
)
def test_worker_holding_an_eta_task_survives_a_redis_restart(transactional_db, private_redis):
    from tests.processes import use_redis
    from transfers.tasks import expire_transfer

    worker = CeleryWorker(REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url).start()
    try:
        with use_redis(private_redis.url):
            expire_transfer.apply_async(args=[0], countdown=60)  # held unacknowledged until its eta
        wait_until(lambda: "expire_transfer" in worker.output(), timeout=15, message="the worker took the task")
        private_redis.restart(down_for=1)
        wait_until(lambda: worker.output().count("Connected to") >= 2 or not worker.running, timeout=20)
        time.sleep(1)
        assert worker.running, worker.output()[-2000:]
    finally:
        worker.stop()
