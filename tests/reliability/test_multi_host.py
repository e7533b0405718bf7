"""Several hosts: two web nodes and a worker node, each in a network namespace of its own.

Like the compose.yaml deployment (docs/deploy.md, "The artefact"), but without Docker: node A
and node B run Daphne on their own addresses of a private LAN the test makes (10.213.N.0/24 on
a bridge), a Celery worker runs on a third host, and all three reach one PostgreSQL and one
Redis over that LAN (tests/reliability/netns.py). A visitor on node A chats with an operator
on node B, a transfer to a second operator on node A first expires (the worker's timer) and
then goes through, and node A is SIGKILLed: its clients reconnect to node B, as a balancer
would send them, and carry on with nothing lost or doubled.

The second half checks the artefact's files themselves (no Docker here): the compose services,
their health checks and start order, and the proxy's WebSocket upgrade.
"""

import asyncio
import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest
import yaml
from django.db import connection

from helpdesk.models import Media, Message
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory
from tests.helpdesk.test_health import fetch_health
from tests.processes import ROOT, use_redis
from tests.reliability.clients import ChatSocket, Outbox
from tests.reliability.netns import GatewayRedis, Network, NodeDaphne, NodeWorker, TcpForwarder, unusable_reason
from tests.reliability.test_cluster import chat_with_alice, post_json
from transfers.models import Transfer, TransferOffer

ACCEPT_TIMEOUT_SECONDS = 5  # the queue's accept window (its smallest allowed)


@pytest.fixture
def hosts(transactional_db):
    """Node A and node B (Daphne) and a worker host, on one PostgreSQL and one Redis over the bridge."""
    reason = unusable_reason()
    if reason:
        pytest.skip(f"multi-host test needs network namespaces: {reason}")
    network = Network()
    redis = forwarder = None
    processes = []
    try:
        network.create()
        host_a, host_b, host_w = (network.add_host(name) for name in ("a", "b", "w"))
        redis = GatewayRedis(network.gateway).start()
        db = connection.settings_dict
        forwarder = TcpForwarder(network.gateway, db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
        env = {
            "DATABASE_URL": f"postgres://{db['USER']}@{network.gateway}:{forwarder.port}/{db['NAME']}",
            "REDIS_URL": redis.url,
            "CELERY_BROKER_URL": redis.url,
            "ALLOWED_HOSTS": f"{host_a.address},{host_b.address}",
        }
        node_a, node_b = NodeDaphne(host_a, **env), NodeDaphne(host_b, **env)
        worker = NodeWorker(host_w, **env)
        processes = [node_a, node_b, worker]
        for process in processes:  # start together, then wait: they boot in parallel
            process.start()
        for process in processes:
            process.wait_ready()
        with use_redis(redis.url):
            yield SimpleNamespace(network=network, node_a=node_a, node_b=node_b, worker=worker, processes=processes)
    finally:
        for process in processes:
            process.stop()
        if forwarder is not None:
            forwarder.stop()
        if redis is not None:
            redis.stop()
        network.destroy()


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
