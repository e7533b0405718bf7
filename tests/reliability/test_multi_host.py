"""Several hosts: two web nodes and a worker node, each in a network namespace of its own.

Like the compose.yaml deployment (docs/deploy.md, "The artefact"), but without Docker: node A
and node B run Daphne on their own addresses of a private LAN the test makes (10.213.N.0/24 on
a bridge), a Celery worker runs on a third host, and all three reach one PostgreSQL and one
Redis over that LAN (tests/reliability/netns.py). A visitor on node A chats with an operator
on node B, a transfer to a second operator on node A first expires (the worker's timer) and
then goes through, and node A is SIGKILLed: its clients reconnect to node B, as a balancer
would send them, and carry on with nothing lost or doubled.

Two more run the artefact's own configuration on such hosts: HAProxy on deploy/haproxy.cfg
terminating TLS in front of nodes with the production settings (a node killed under a visitor's
socket), and Redis as compose runs it — primary, replica, three Sentinels on deploy/sentinel.conf
and the front on deploy/redis-haproxy.cfg — with the primary killed mid-chat.

The last part checks the artefact's files themselves (no Docker here): the compose services,
their health checks and start order, the image, PgBouncer's pooling, and `haproxy -c`.
"""

import asyncio
import contextlib
import csv
import re
import resource
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
import redis as redis_lib
import requests
import yaml
from django.db import connection

from helpdesk.models import Media, Message
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory
from tests.helpdesk.test_health import fetch_health
from tests.processes import ROOT, use_redis, wait_until
from tests.reliability.clients import ChatSocket, Outbox
from tests.reliability.netns import (
    GatewayRedis,
    Network,
    NodeDaphne,
    NodeHAProxy,
    NodeRedis,
    NodeWorker,
    TcpForwarder,
    unusable_reason,
)
from tests.reliability.test_cluster import chat_with_alice, post_json
from transfers.models import Transfer, TransferOffer

ACCEPT_TIMEOUT_SECONDS = 5  # the queue's accept window (its smallest allowed)


@contextlib.contextmanager
def cluster_on_a_lan(*, proxy: bool = False, sentinel: bool = False, tmp_path: Path | None = None):
    """Node A and node B (Daphne) and a worker host, on one PostgreSQL and one Redis over the bridge.

    With `proxy`, a fourth host runs deploy/haproxy.cfg (TLS on 443, a certificate made here) in
    front of both nodes, which then run with the production settings as in compose.yaml. With
    `sentinel`, Redis is compose.yaml's: a primary and a replica on hosts of their own, three
    Sentinels on deploy/sentinel.conf, and the front on deploy/redis-haproxy.cfg that the app's
    REDIS_URL points at.
    """
    reason = unusable_reason()
    if reason:
        pytest.skip(f"multi-host test needs network namespaces: {reason}")
    if (proxy or sentinel) and not (shutil.which("haproxy") and shutil.which("openssl")):
        pytest.skip("the proxy and Redis-front tests need haproxy and openssl (apt-get install haproxy)")
    network = Network()
    redis = forwarder = None
    processes = []
    infrastructure = []
    try:
        network.create()
        host_a, host_b, host_w = (network.add_host(name) for name in ("a", "b", "w"))
        host_p = network.add_host("p") if proxy else None
        if sentinel:
            redis_set = start_redis_with_sentinel(network, tmp_path, infrastructure)
            redis_url = redis_set.url
        else:
            redis = GatewayRedis(network.gateway).start()
            redis_set, redis_url = None, redis.url
        db = connection.settings_dict
        forwarder = TcpForwarder(network.gateway, db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
        env = {
            "DATABASE_URL": f"postgres://{db['USER']}@{network.gateway}:{forwarder.port}/{db['NAME']}",
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "ALLOWED_HOSTS": f"{host_a.address},{host_b.address}",
        }
        if proxy:
            env.update(
                PRODUCTION="true",
                SECRET_KEY=secrets.token_urlsafe(50),
                ALLOWED_HOSTS=f"{host_p.address},localhost",  # the public name, and the health checks'
                CSRF_TRUSTED_ORIGINS=f"https://{host_p.address}",
                TRUSTED_PROXY_COUNT="1",
            )
        bind = "0.0.0.0" if proxy else None  # as in the container: own address and own loopback
        node_a, node_b = NodeDaphne(host_a, bind=bind, **env), NodeDaphne(host_b, bind=bind, **env)
        worker = NodeWorker(host_w, **env)
        processes = [node_a, node_b, worker]
        if proxy:
            processes.append(NodeHAProxy(host_p, proxy_config(tmp_path, host_p, node_a, node_b)))
        for process in processes:  # start together, then wait: they boot in parallel
            process.start()
        for process in processes:
            process.wait_ready()
        with use_redis(redis_url):
            yield SimpleNamespace(
                network=network,
                node_a=node_a,
                node_b=node_b,
                worker=worker,
                proxy=processes[3] if proxy else None,
                public_url=f"https://{host_p.address}" if proxy else None,
                redis=redis_set,
                tmp_path=tmp_path,
                env=env,
            )
    finally:
        for process in processes + infrastructure[::-1]:
            process.stop()
        if forwarder is not None:
            forwarder.stop()
        if redis is not None:
            redis.stop()
        network.destroy()


def start_redis_with_sentinel(network: Network, tmp_path: Path, started: list) -> SimpleNamespace:
    """compose.yaml's Redis on hosts of their own: primary, replica, three Sentinels, the front."""
    host_primary, host_replica, host_sentinels, host_front = (network.add_host(n) for n in ("r1", "r2", "s", "f"))
    primary = NodeRedis(host_primary)
    started.append(primary.start())
    primary.wait_ready()
    replica = NodeRedis(host_replica, replica_of=host_primary.address)
    started.append(replica.start())
    replica.wait_ready()
    wait_until(
        lambda: redis_lib.Redis.from_url(replica.url).info("replication")["master_link_status"] == "up",
        timeout=15,
        message="the replica in sync",
    )
    sentinel_config = (ROOT / "deploy" / "sentinel.conf").read_text()
    assert "sentinel monitor helpdesk redis-primary 6379 2" in sentinel_config
    sentinel_config = sentinel_config.replace("redis-primary 6379", f"{host_primary.address} 6379")
    sentinels = []
    for port in (26379, 26380, 26381):  # one host, three ports: as good as three hosts to Sentinel
        config = tmp_path / f"sentinel-{port}.conf"  # Sentinel rewrites it, as in compose
        config.write_text(sentinel_config)
        sentinels.append(NodeRedis(host_sentinels, port, sentinel_config=config))
        started.append(sentinels[-1].start())
    front_config = (ROOT / "deploy" / "redis-haproxy.cfg").read_text()
    for compose_name, host in (("redis-primary:6379", host_primary), ("redis-replica:6379", host_replica)):
        assert compose_name in front_config
        front_config = front_config.replace(compose_name, f"{host.address}:6379")
    (tmp_path / "redis-haproxy.cfg").write_text(fit_maxconn(front_config))
    front = NodeHAProxy(host_front, tmp_path / "redis-haproxy.cfg")
    started.append(front.start())
    front.wait_ready(port=6379)
    for sentinel in sentinels:
        sentinel.wait_ready()
    # Healthy means one server UP: the replica's first check has marked it down (deploy/redis-haproxy.cfg).
    wait_until(lambda: front_healthy(host_front.address), timeout=15, message="the Redis front finding the primary")
    return SimpleNamespace(
        url=f"redis://{host_front.address}:6379/0",
        primary=primary,
        replica=replica,
        sentinels=sentinels,
        front=front,
        front_address=host_front.address,
    )


def front_healthy(address: str) -> bool:
    try:
        return requests.get(f"http://{address}:8404/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def fit_maxconn(config: str) -> str:
    """20,000 connections need 40,000 descriptors (compose.yaml raises nofile); this box may allow fewer."""
    assert "maxconn 20000" in config
    return config.replace("maxconn 20000", f"maxconn {min(20000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 4)}")


@pytest.fixture
def hosts(transactional_db):
    with cluster_on_a_lan() as cluster:
        yield cluster


def proxy_config(tmp_path: Path, host_p, node_a, node_b) -> Path:
    """deploy/haproxy.cfg as compose runs it, but for the test's addresses and certificate, with an
    admin socket to see which node holds which socket."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host_p.address}"]
        + ["-addext", f"subjectAltName=IP:{host_p.address}"]
        + ["-keyout", str(tmp_path / "site.pem.key"), "-out", str(tmp_path / "site.pem")],
        check=True,
        capture_output=True,
    )
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    for compose_name, node in (("web1:8000", node_a), ("web2:8000", node_b)):
        assert compose_name in config
        config = config.replace(compose_name, f"{node.host.address}:{node.port}")
    config = fit_maxconn(config.replace("/certs/site.pem", str(tmp_path / "site.pem")))
    config = config.replace("global\n", f"global\n    stats socket {tmp_path / 'admin.sock'} mode 600 level admin\n", 1)
    (tmp_path / "haproxy.cfg").write_text(config)
    return tmp_path / "haproxy.cfg"


@pytest.fixture
def desk(transactional_db):
    """Alice takes the first chat (Bob is away until she has it); Bob is her transfer target."""
    site = SiteFactory()
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True, accept_timeout_seconds=ACCEPT_TIMEOUT_SECONDS)
    alice = OperatorFactory(site=site, teams=[team], available=[Media.CHAT], display_name="Alice")
    bob = OperatorFactory(site=site, teams=[team], display_name="Bob")
    return SimpleNamespace(site=site, queue=queue, alice=alice, bob=bob)


def transfer_row(transfer_id: int) -> Transfer:
    try:
        return Transfer.objects.get(pk=transfer_id)
    finally:
        connection.close()  # read from a helper thread: the test database is dropped later


def shown_once(socket: ChatSocket, body: str, engagement_id: int) -> bool:
    """The line is on that screen exactly once (a screen shows each seq once, as LiveSocket does)."""
    shown = {f["seq"]: f["body"] for f in socket.messages(engagement_id)}
    return list(shown.values()).count(body) == 1


@pytest.mark.worker
def test_chat_and_transfer_across_hosts_then_a_killed_node_s_clients_carry_on_on_the_other(hosts, desk):
    node_a, node_b = hosts.node_a, hosts.node_b
    assert node_a.host.address != node_b.host.address and node_a.port == node_b.port == 8000
    for node in (node_a, node_b):  # each node reaches the database, the channel layer and the worker host
        status, body = fetch_health(node.url)
        assert status == 200 and all(value == "OK" for value in body.values()), (body, node.output()[-2000:])

    async def scenario():
        # The visitor and Bob on node A, Alice (who gets the chat) on node B.
        chat = await chat_with_alice(desk, visitor_url=node_a.url, alice_url=node_b.url, bob_url=node_a.url)
        engagement_id = chat.engagement_id
        visitor = Outbox(chat.visitor)
        alice = Outbox(chat.alice, engagement_id=engagement_id)
        bob = Outbox(chat.bob, engagement_id=engagement_id)
        history = None
        try:
            await visitor.say("Hello, my invoice is wrong")
            await chat.alice.wait_for(lambda f: f.get("body") == "Hello, my invoice is wrong", what="A → B line")
            await alice.say("Alice here, let me look")
            await chat.visitor.wait_for(lambda f: f.get("body") == "Alice here, let me look", what="B → A line")

            # First offer to Bob: unanswered, expired by the worker host's timer (no beat runs).
            request_url = f"{node_b.url}/transfers/engagements/{engagement_id}/request/"
            to_bob = {"target_operator_id": desk.bob.pk, "warm_message": "Billing"}
            first = await asyncio.to_thread(post_json, chat.alice_session, request_url, to_bob)
            first_id = first["transfer"]["id"]
            await chat.bob.wait_for(lambda f: f["type"] == "transfer.offered", what="the offer on node A")
            await chat.alice.wait_for(
                lambda f: f["type"] == "transfer.updated" and f["transfer"]["state"] == "expired",
                timeout=ACCEPT_TIMEOUT_SECONDS + 15,
                what="the expiry from the worker host",
            )
            await chat.bob.wait_for(lambda f: f["type"] == "transfer.offer_ended", what="the offer withdrawn")

            # Back, same target: request → accept (on node A) → Transfer Now (on node B).
            second = await asyncio.to_thread(post_json, chat.alice_session, request_url, to_bob)
            second_id = second["transfer"]["id"]
            await chat.bob.wait_for(
                lambda f: f["type"] == "transfer.offered" and f["transfer"]["id"] == second_id, what="the second offer"
            )
            await asyncio.to_thread(post_json, chat.bob_session, f"{node_a.url}/transfers/{second_id}/accept/")
            await chat.alice.wait_for(
                lambda f: f["type"] == "transfer.updated" and f["transfer"]["state"] == "accepted", what="acceptance"
            )
            await asyncio.to_thread(post_json, chat.alice_session, f"{node_b.url}/transfers/{second_id}/now/")
            await chat.bob.wait_for(lambda f: f["type"] == "engagement.assigned", what="ownership on node A")
            await chat.visitor.wait_for(
                lambda f: f["type"] == "engagement.state" and f.get("operator_name") == "Bob", what="the new operator"
            )
            await bob.say("Bob from billing here")
            await chat.visitor.wait_for(lambda f: f.get("body") == "Bob from billing here", what="Bob's line")

            # Node A dies. The balancer sends its clients to node B; they type on meanwhile.
            for socket in (chat.visitor, chat.bob):
                socket.base_url = socket.origin = node_b.url
            node_a.kill()
            await visitor.say("Are you still there?")  # typed while node A is gone: the outbox keeps it
            await chat.bob.wait_for(lambda f: f.get("body") == "Are you still there?", timeout=20, what="on node B")
            await bob.say("Still here, the invoice is fixed")
            await chat.visitor.wait_for(
                lambda f: f.get("body") == "Still here, the invoice is fixed", timeout=20, what="after the kill"
            )
            for outbox in (visitor, alice, bob):
                await outbox.settled(timeout=20)

            # A screen opened afresh on node B shows the whole history.
            history = ChatSocket(node_b.url, chat.visitor.path, "visitor", last_seq={engagement_id: 0})
            await history.start()
            await history.wait_for(
                lambda f: f.get("body") == "Still here, the invoice is fixed", what="the whole history on node B"
            )
            return chat, first_id, second_id, (visitor, alice, bob), history
        finally:
            for socket in (chat.alice, chat.bob, chat.visitor, *([history] if history else [])):
                await socket.close()

    chat, first_id, second_id, outboxes, history = asyncio.run(scenario())
    engagement_id = chat.engagement_id

    first, second = Transfer.objects.get(pk=first_id), Transfer.objects.get(pk=second_id)
    assert (first.state, first.expired_by) == ("expired", "timer"), "the worker host's countdown task expired it"
    assert [o.outcome for o in TransferOffer.objects.filter(transfer=first)] == ["expired"]
    assert second.state == "completed" and second.engagement.owner_id == desk.bob.pk

    lines = [
        "Hello, my invoice is wrong",
        "Alice here, let me look",
        "Bob from billing here",
        "Are you still there?",
        "Still here, the invoice is fixed",
    ]
    stored = list(Message.objects.filter(engagement_id=engagement_id).order_by("seq").values_list("seq", "body"))
    assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1)), "gap-free"
    typed = [body for _, body in stored if body in lines]
    assert typed == lines, "each line stored once, in the order typed"
    assert all(not outbox.pending and not outbox.failed for outbox in outboxes)
    assert chat.visitor.connects == 2 and chat.bob.connects == 2, "node A's clients came back once, on node B"
    assert chat.alice.connects == 1, "node B's client was not disturbed"

    for body in lines:  # each line seen once by the visitor, and by whoever owned the chat then
        assert shown_once(chat.visitor, body, engagement_id), body
    for body in lines[:2]:
        assert shown_once(chat.alice, body, engagement_id), body
    for body in lines[2:]:
        assert shown_once(chat.bob, body, engagement_id), body
    assert "Are you still there?" not in chat.alice.bodies(), "the old owner no longer gets the chat"
    assert [f["seq"] for f in history.messages(engagement_id)] == [seq for seq, _ in stored], "history intact"


# --- Through the proxy: deploy/haproxy.cfg in front, production settings behind it --------------


@dataclass
class TlsChatSocket(ChatSocket):
    """A ChatSocket over TLS (https:// upgraded, as wss://) that trusts the test's certificate."""

    ssl_context: ssl.SSLContext | None = None

    async def start(self, timeout: float = 15) -> ChatSocket:
        connector = aiohttp.TCPConnector(ssl=self.ssl_context)
        self._session = aiohttp.ClientSession(cookies=self.cookies, connector=connector)
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._open.wait(), timeout)
        return self


def browser_session(public_url: str, ca_file: str) -> requests.Session:
    """Like a browser on https: the certificate checked, a Referer on every request (Django's CSRF
    check on secure requests wants one)."""
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment wins over `verify`
    session.verify = ca_file
    session.headers["Referer"] = f"{public_url}/"
    return session


def submit_form(session: requests.Session, url: str, data: dict) -> requests.Response:
    page = session.get(url, timeout=15)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(url, data={**data, "csrfmiddlewaretoken": token}, allow_redirects=False, timeout=15)
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return response


def sessions_per_node(admin_socket: Path) -> dict[str, int]:
    """The proxy's current sessions per web server (`show stat` on its admin socket)."""
    with socket.socket(socket.AF_UNIX) as admin:
        admin.connect(str(admin_socket))
        admin.sendall(b"show stat\n")
        raw = b""
        while chunk := admin.recv(65536):
            raw += chunk
    rows = csv.reader(raw.decode().lstrip("# ").splitlines())
    header = next(rows)
    stats = [dict(zip(header, row, strict=False)) for row in rows if row]
    return {row["svname"]: int(row["scur"]) for row in stats if row["pxname"] == "web" and row["svname"] != "BACKEND"}


@pytest.mark.worker
def test_through_the_tls_proxy_sockets_of_a_killed_node_come_back_on_the_other(transactional_db, tmp_path, desk):
    """compose.yaml's front, for real: HAProxy on deploy/haproxy.cfg terminates TLS and upgrades the
    sockets to two nodes running the production settings (secure cookies, HTTPS redirect, HSTS). The
    node holding the visitor's socket is SIGKILLed; the socket comes back through the same public
    address, on the other node (no stickiness), and the chat carries on, each line once."""
    with cluster_on_a_lan(proxy=True, tmp_path=tmp_path) as cluster:
        public, ca_file = cluster.public_url, str(tmp_path / "site.pem")
        plain = requests.get(public.replace("https://", "http://") + "/accounts/login/", allow_redirects=False)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
        for node in (cluster.node_a, cluster.node_b):  # the image's HEALTHCHECK, inside each node
            checked = subprocess.run(
                node.host.wrap([sys.executable, "deploy/healthcheck.py"]), cwd=ROOT, capture_output=True, text=True
            )
            assert checked.returncode == 0, checked.stderr + node.output()[-2000:]

        alice_session = browser_session(public, ca_file)
        signed_in = submit_form(
            alice_session, f"{public}/accounts/login/", {"username": desk.alice.user.username, "password": "password"}
        )
        assert "max-age=" in signed_in.headers["Strict-Transport-Security"]
        assert all(cookie.secure for cookie in alice_session.cookies if cookie.name in ("sessionid", "csrftoken"))
        admin_socket = tmp_path / "admin.sock"
        nodes = {"web1": cluster.node_a, "web2": cluster.node_b}

        async def scenario():
            tls = ssl.create_default_context(cafile=ca_file)
            alice = TlsChatSocket(
                public, "/ws/operator/", "operator", cookies=alice_session.cookies.get_dict(), ssl_context=tls
            )
            await alice.start()
            before = await asyncio.to_thread(sessions_per_node, admin_socket)
            visitor_session = browser_session(public, ca_file)
            started = await asyncio.to_thread(
                submit_form, visitor_session, f"{public}/chat/", {"queue": str(desk.queue.pk), "name": "Vera"}
            )
            token = started.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            visitor = await TlsChatSocket(public, f"/ws/visitor/{token}/", "visitor", ssl_context=tls).start()
            try:
                after = await asyncio.to_thread(sessions_per_node, admin_socket)
                (visitor_node,) = [name for name in nodes if after[name] == before[name] + 1]
                assigned = await alice.wait_for(lambda f: f["type"] == "engagement.assigned", what="assignment")
                engagement_id = assigned["engagement"]["id"]
                visitor_outbox, alice_outbox = Outbox(visitor), Outbox(alice, engagement_id=engagement_id)
                await visitor_outbox.say("Hello over TLS")
                await alice.wait_for(lambda f: f.get("body") == "Hello over TLS", what="the visitor's line")
                await alice_outbox.say("Hello Vera")
                await visitor.wait_for(lambda f: f.get("body") == "Hello Vera", what="Alice's line")

                nodes[visitor_node].kill()  # the proxy finds out by itself: same public address
                await visitor_outbox.say("Are you there after the blip?")
                await alice.wait_for(lambda f: f.get("body") == "Are you there after the blip?", timeout=30)
                await alice_outbox.say("Yes, carrying on")
                await visitor.wait_for(lambda f: f.get("body") == "Yes, carrying on", timeout=30)
                for outbox in (visitor_outbox, alice_outbox):
                    await outbox.settled(timeout=20)
                survivor = next(name for name in nodes if name != visitor_node)
                now = await asyncio.to_thread(sessions_per_node, admin_socket)
                return engagement_id, visitor, alice, visitor_node, survivor, now
            finally:
                await visitor.close()
                await alice.close()

        engagement_id, visitor, alice, visitor_node, survivor, now = asyncio.run(scenario())
        haproxy_log = cluster.proxy.output()
    assert visitor.connects == 2, "the visitor's socket came back once"
    assert now[visitor_node] == 0 and now[survivor] >= 1, (now, haproxy_log[-2000:])
    lines = ["Hello over TLS", "Hello Vera", "Are you there after the blip?", "Yes, carrying on"]
    stored = list(Message.objects.filter(engagement_id=engagement_id).order_by("seq").values_list("body", flat=True))
    assert [body for body in stored if body in lines] == lines, "each line stored once, in order"
    for body in lines:
        assert shown_once(visitor, body, engagement_id) and shown_once(alice, body, engagement_id), body


# --- Redis as compose runs it: primary, replica, Sentinels and the front that follows the primary --


def elected_primary(sentinel: NodeRedis) -> str | None:
    client = redis_lib.Redis(host=sentinel.host.address, port=sentinel.port, socket_timeout=2, decode_responses=True)
    try:
        address = client.sentinel_get_master_addr_by_name("helpdesk")
        return address[0] if address else None
    except redis_lib.RedisError:
        return None
    finally:
        client.close()


@pytest.mark.worker
def test_redis_primary_killed_sentinel_promotes_the_replica_and_the_chat_goes_on_through_the_front(
    transactional_db, tmp_path, desk
):
    """The helpdesk only knows the front's address (REDIS_URL). The primary is SIGKILLed mid-chat: the
    Sentinels (deploy/sentinel.conf) agree it is down and promote the replica, the front
    (deploy/redis-haproxy.cfg) sees the new role:master and leads every connection there. A line the
    visitor types in the gap is stored at once (its rate limit is in the database, not in Redis) and
    reaches the operator once the channel layer is back: stored once, seen once, and the operator's
    answer comes back over the new primary's pub/sub."""
    with cluster_on_a_lan(sentinel=True, tmp_path=tmp_path) as cluster:
        node_a, node_b, redis_set = cluster.node_a, cluster.node_b, cluster.redis
        assert all(elected_primary(s) == redis_set.primary.host.address for s in redis_set.sentinels)

        async def scenario():
            chat = await chat_with_alice(desk, visitor_url=node_a.url, alice_url=node_b.url, bob_url=node_a.url)
            engagement_id = chat.engagement_id
            visitor, alice = Outbox(chat.visitor), Outbox(chat.alice, engagement_id=engagement_id)
            try:
                await visitor.say("Before the failover")
                await chat.alice.wait_for(lambda f: f.get("body") == "Before the failover", what="the first line")
                await alice.say("Seen it")
                await chat.visitor.wait_for(lambda f: f.get("body") == "Seen it", what="the answer")

                redis_set.primary.kill()
                killed_at = asyncio.get_running_loop().time()
                await visitor.say("During the failover")
                for _ in range(120):  # down after 5 s, then the election
                    if (
                        await asyncio.to_thread(elected_primary, redis_set.sentinels[0])
                        == redis_set.replica.host.address
                    ):
                        break
                    await asyncio.sleep(0.25)
                promoted_after = asyncio.get_running_loop().time() - killed_at
                await chat.alice.wait_for(
                    lambda f: f.get("body") == "During the failover", timeout=30, what="the line typed in the gap"
                )
                await alice.say("Still here after the failover")
                await chat.visitor.wait_for(
                    lambda f: f.get("body") == "Still here after the failover", timeout=30, what="the answer after it"
                )
                for outbox in (visitor, alice):
                    await outbox.settled(timeout=30)
                return chat, promoted_after
            finally:
                for socket in (chat.alice, chat.bob, chat.visitor):
                    await socket.close()

        chat, promoted_after = asyncio.run(scenario())
        # The lines can also arrive by a reconnecting socket's catch-up from the database, before the
        # front's checks (every second, rise 2) have brought the new primary UP: give them that time.
        deadline = time.monotonic() + 15
        while "redis_primary/redis-replica is UP" not in redis_set.front.output() and time.monotonic() < deadline:
            time.sleep(0.25)
        new_primary = redis_lib.Redis.from_url(redis_set.replica.url).info("replication")["role"]
        electors = [elected_primary(s) for s in redis_set.sentinels]
        front_log = redis_set.front.output()
    assert new_primary == "master", "Sentinel promoted the replica"
    assert electors == [redis_set.replica.host.address] * 3, electors
    assert promoted_after < 30, f"promoted {promoted_after:.1f}s after the kill"
    assert re.search(r"redis_primary/redis-primary is DOWN", front_log), front_log[-2000:]
    replica_lines = [line for line in front_log.splitlines() if "redis-replica" in line]
    assert any(re.search(r"redis_primary/redis-replica is UP", line) for line in replica_lines), replica_lines
    lines = ["Before the failover", "Seen it", "During the failover", "Still here after the failover"]
    stored = list(
        Message.objects.filter(engagement_id=chat.engagement_id).order_by("seq").values_list("body", flat=True)
    )
    assert [body for body in stored if body in lines] == lines, "each line stored once, in order"
    for body in lines:
        assert shown_once(chat.visitor, body, chat.engagement_id), body
        assert shown_once(chat.alice, body, chat.engagement_id), body


# --- The artefact's files (no Docker in CI: their structure, the netns test above is the proof) ----


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_every_part_from_one_image_with_health_checks_and_start_order():
    services = compose()["services"]
    expected = {
        "postgres",
        "pgbouncer",
        "redis-primary",
        "redis-replica",
        "sentinel1",
        "sentinel2",
        "sentinel3",
        "redis",
        "migrate",
        "web1",
        "web2",
        "worker1",
        "worker2",
        "beat",
        "proxy",
    }
    assert expected <= set(services), expected - set(services)
    app_services = ["migrate", "web1", "web2", "worker1", "worker2", "beat"]
    images = {services[name].get("image") for name in app_services}
    assert len(images) == 1 and None not in images, f"one production image for all: {images}"
    for name in ["postgres", "pgbouncer", "redis-primary", "redis", "web1", "web2", "worker1", "worker2", "proxy"]:
        assert "test" in services[name].get("healthcheck", {}), f"{name} has no health check"
    for name in ["web1", "web2", "worker1", "worker2", "beat"]:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["pgbouncer"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert services[name]["environment"]["PRODUCTION"] == "true", name
        assert services[name]["restart"] == "unless-stopped", f"{name} must be restarted when it dies (R8)"
    assert {"web1", "web2"} <= set(services["proxy"]["depends_on"])
    assert all(services["proxy"]["depends_on"][web]["condition"] == "service_healthy" for web in ("web1", "web2"))
    assert "beat" in services["beat"]["command"] and services["beat"].get("deploy", {}).get("replicas", 1) == 1
    migrate = services["migrate"]
    assert "migrate" in " ".join(migrate["command"]) and "check --deploy" in " ".join(migrate["command"])
    assert migrate["restart"] == "no"


def test_dockerfile_builds_a_non_root_image_with_static_files_and_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "collectstatic" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK .*deploy/healthcheck\.py", dockerfile, re.M)
    assert "/health/" in (ROOT / "deploy" / "healthcheck.py").read_text()
    assert "EXPOSE 8000" in dockerfile
    assert re.search(r"^CMD .*daphne", dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "var"} <= {line.strip("/") for line in ignored}


def test_proxy_terminates_tls_and_upgrades_websockets_to_both_web_nodes():
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert re.search(r"bind \S+:443 ssl crt ", config)
    assert re.search(r"server web1 web1:8000 check", config) and re.search(r"server web2 web2:8000 check", config)
    assert "X-Forwarded-Proto https" in config
    assert "timeout tunnel" in config, "WebSocket connections outlive the HTTP timeouts"
    assert not re.search(r"\bcookie\b.*insert", config), "no sticky sessions: sockets resume by seq"


def test_pgbouncer_pools_transactions_and_keeps_prepared_statements_working():
    config = (ROOT / "deploy" / "pgbouncer.ini").read_text()
    assert re.search(r"^pool_mode\s*=\s*transaction", config, re.M)
    assert int(re.search(r"^max_prepared_statements\s*=\s*(\d+)", config, re.M).group(1)) > 0
    app_env = compose()["x-app-env"]
    assert "disable_server_side_cursors=true" in app_env["DATABASE_URL"]
    assert "@pgbouncer:" in app_env["DATABASE_URL"]


def test_the_app_follows_the_redis_primary_that_sentinel_elects():
    services = compose()["services"]
    assert compose()["x-app-env"]["REDIS_URL"].startswith("redis://redis:")
    config = (ROOT / "deploy" / "redis-haproxy.cfg").read_text()
    assert "role:master" in config, "the Redis front sends clients only to the current primary"
    sentinel = (ROOT / "deploy" / "sentinel.conf").read_text()
    assert re.search(r"sentinel monitor helpdesk redis-primary 6379 2", sentinel)
    assert "--replicaof" in " ".join(map(str, services["redis-replica"]["command"]))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)")
@pytest.mark.parametrize("name", ["haproxy.cfg", "redis-haproxy.cfg"])
def test_haproxy_accepts_the_proxy_configurations(name, tmp_path):
    """`haproxy -c` on each configuration, with a throwaway certificate where the TLS one is mounted."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-keyout", str(tmp_path / "site.pem.key"), "-out", str(tmp_path / "site.pem")],
        check=True,
        capture_output=True,
    )
    config = (ROOT / "deploy" / name).read_text().replace("/certs/site.pem", str(tmp_path / "site.pem"))
    (tmp_path / name).write_text(config)
    checked = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / name)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout + checked.stderr
