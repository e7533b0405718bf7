"""Transfer reasons: codes of the engagement's queue (kind transfer), optional or required per queue,
stored on the transfer and shown to the receiver beside the warm message; bad ones refused with
nothing written (no transfer, no note). And an operator in wrap-up cannot be a transfer target."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from helpdesk.errors import CodeError
from helpdesk.models import Availability, DispositionCode, Note
from tests.factories import DispositionCodeFactory, QueueFactory
from tests.transfers.conftest import error_code, give_engagement, make_overdue, request_to
from transfers import services
from transfers.errors import TransferError
from transfers.models import Transfer

pytestmark = pytest.mark.django_db

TRANSFER = DispositionCode.Kind.TRANSFER


def test_reason_is_stored_and_shown_to_the_receiver_with_the_warm_message(engagement, alice, bob, frames):
    billing = DispositionCodeFactory(queue=engagement.queue, kind=TRANSFER, name="Needs billing")
    transfer = request_to(bob, engagement, alice, warm_message="Refund for 1042", reason_id=str(billing.pk))
    assert Transfer.objects.get(pk=transfer.pk).reason == billing
    (offered,) = frames.to(bob, "transfer.offered")
    assert offered["transfer"]["reason_name"] == "Needs billing"
    assert offered["transfer"]["warm_message"] == "Refund for 1042"


def test_reason_is_optional_unless_the_queue_requires_one(engagement, alice, bob):
    assert request_to(bob, engagement, alice).reason is None
    Transfer.objects.all().delete()
    queue = engagement.queue
    queue.transfer_reason_required = True
    queue.save()
    DispositionCodeFactory(queue=queue, kind=TRANSFER)
    with pytest.raises(CodeError) as refused:
        request_to(bob, engagement, alice, warm_message="kept?")
    assert error_code(refused) == "code_required" and refused.value.http_status == 400
    assert not Transfer.objects.exists() and not Note.objects.filter(body="kept?").exists()


@pytest.mark.parametrize(
    ("which", "code"),
    [("unknown", "unknown_code"), ("inactive", "inactive_code"), ("other_queue", "other_queue"),
     ("disposition_kind", "unknown_code")],
)  # fmt: skip
def test_bad_reasons_are_refused_and_nothing_is_written(engagement, alice, bob, which, code):
    queue = engagement.queue
    reason_id = {
        "unknown": lambda: 10**9,
        "inactive": lambda: DispositionCodeFactory(queue=queue, kind=TRANSFER, active=False).pk,
        "other_queue": lambda: DispositionCodeFactory(queue=QueueFactory(site=queue.site), kind=TRANSFER).pk,
        "disposition_kind": lambda: DispositionCodeFactory(queue=queue).pk,
    }[which]()
    with pytest.raises(CodeError) as refused:
        request_to(bob, engagement, alice, warm_message="not saved", reason_id=reason_id)
    assert error_code(refused) == code
    assert not Transfer.objects.exists() and not Note.objects.filter(body="not saved").exists()


def test_an_operator_in_wrap_up_cannot_be_a_transfer_target(engagement, alice, bob):
    Availability.objects.filter(operator=bob, media="chat").update(wrap_ups=1)
    with pytest.raises(TransferError) as refused:
        request_to(bob, engagement, alice)
    assert error_code(refused) == "target_unavailable" and "wrapping up" in refused.value.message


def test_dialog_lists_the_queues_reasons_and_the_request_takes_one_over_http(client, engagement, alice, bob):
    billing = DispositionCodeFactory(queue=engagement.queue, kind=TRANSFER, name="Needs billing", order=1)
    DispositionCodeFactory(queue=engagement.queue, kind=TRANSFER, name="Off", active=False)
    DispositionCodeFactory(queue=engagement.queue, name="A disposition")
    client.force_login(alice.user)
    data = client.get(f"/transfers/engagements/{engagement.pk}/targets/").json()
    assert data["reasons"] == [{"id": billing.pk, "name": "Needs billing"}] and data["reason_required"] is False
    url = f"/transfers/engagements/{engagement.pk}/request/"
    bad = client.post(url, {"target_operator_id": bob.pk, "reason_id": "x"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    good = client.post(url, {"target_operator_id": bob.pk, "reason_id": billing.pk}, content_type="application/json")
    assert good.status_code == 200 and good.json()["transfer"]["reason_name"] == "Needs billing"


def test_lists_of_transfers_read_their_reasons_warm_messages_and_acceptors_with_them(alice, bob, carol, queue, frames):
    """The console's /transfers/mine/ costs the same statements for 3 transfers as for 6, and the bulk
    expiry the same for 1 as for 3: a reason, a warm message or an accepting operator is no query
    per transfer (each was one before)."""
    Availability.objects.filter(operator__in=[alice, bob, carol]).update(capacity=20)
    billing = DispositionCodeFactory(queue=queue, kind=TRANSFER, name="Needs billing")
    client = Client()
    client.force_login(alice.user)

    def add_three() -> list[Transfer]:
        """Two offered to Bob and one accepted by Carol, each with a reason and a warm message;
        returns the two offered."""

        def request(target) -> Transfer:
            engagement = give_engagement(owner=alice, queue=queue)
            return request_to(target, engagement, alice, warm_message="W", reason_id=str(billing.pk))

        services.accept_transfer(transfer_id=request(carol).pk, operator=carol)
        return [request(bob), request(bob)]

    def statements(action) -> int:
        with CaptureQueriesContext(connection) as captured:
            action()
        return len(captured)

    due = add_three()
    mine_of_three = statements(lambda: client.get("/transfers/mine/"))
    due += add_three()
    mine_of_six = client.get("/transfers/mine/").json()["outgoing"]
    assert [t["reason_name"] for t in mine_of_six] == ["Needs billing"] * 6
    assert {t["accepted_by_name"] for t in mine_of_six} == {"", "Carol Chen"}
    assert statements(lambda: client.get("/transfers/mine/")) == mine_of_three

    make_overdue(due[0])
    expiring_one = statements(lambda: services.expire_due_operator_transfers(by="timer"))
    for transfer in due[1:]:
        make_overdue(transfer)
    assert statements(lambda: services.expire_due_operator_transfers(by="timer")) == expiring_one
    told = [f["transfer"] for f in frames.to(alice, "transfer.updated") if f["transfer"]["state"] == "expired"]
    assert [(t["reason_name"], t["warm_message"]) for t in told] == [("Needs billing", "W")] * len(due)
