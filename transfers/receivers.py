"""Reactions to the core's signals: a target who becomes unavailable or fills up, an engagement that ends."""

from __future__ import annotations

from django.db import transaction

from . import selectors, services


def on_operator_became_unavailable(sender, *, operator, media, reason, **kwargs) -> None:
    """Withdraw what is offered to (or accepted by) the operator, once their change commits.

    After commit, in transactions of our own: the core holds the availability row lock while it
    sends the signal, and our acts lock transfer before availability; waiting for the commit
    keeps the lock order one-way.
    """
    operator_id = operator.pk

    def cancel():
        services.cancel_offers_to_unavailable_operator(operator_id=operator_id, media=media, reason=reason)

    transaction.on_commit(cancel, robust=True)


def on_operator_reached_capacity(sender, *, operator, media, **kwargs) -> None:
    """Routing (or a hand-over) filled the operator up: offers to them stop as `at_capacity`, after commit.

    After commit for the same reason as above: the core holds the availability row lock here.
    """
    operator_id = operator.pk

    def withdraw():
        services.withdraw_offers_from_operator_at_capacity(operator_id=operator_id, media=media)

    transaction.on_commit(withdraw, robust=True)


def on_engagement_ended(sender, *, engagement, reason, **kwargs) -> None:
    """The visitor left or the conversation ended: the open transfer stops, atomically with the end."""
    services.cancel_transfers_of_ended_engagement(engagement_id=engagement.pk, reason=reason)


def visitor_hello_fields(sender, *, engagement, **kwargs) -> dict:
    """While an accepted transfer waits for Transfer Now, a visitor who reconnects is told again where
    they are going (the live `engagement.transferring` frame was sent once)."""
    name = selectors.accepted_transfer_target_name(engagement_id=engagement.pk)
    return {"transferring_to": name} if name else {}
