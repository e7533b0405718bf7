"""The core's receivers: a user who may no longer work loses their live sockets, as on logout.

Deactivating a user (is_active False, e.g. a manager in the admin) or deleting an operator (or
their user) does what logging out does: the operator goes offline everywhere (pending offers to
them are withdrawn) and, after the transaction commits, their open sockets get `session.ended`
and close with 4401. A new socket is refused anyway: Django's auth backend treats an inactive
user's session as anonymous. QuerySet.update() sends no signals: deactivate users one by one
(the admin's change form and delete action both do).

Connected when the app is ready (apps.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from .models import Operator
from .realtime import end_operator_sessions
from .services.presence import set_offline_everywhere


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="helpdesk.user_was_active")
def remember_whether_user_was_active(sender, instance, update_fields=None, raw=False, **kwargs):
    instance._helpdesk_was_active = None
    if raw or instance.pk is None or (update_fields is not None and "is_active" not in update_fields):
        return
    instance._helpdesk_was_active = (
        sender._default_manager.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="helpdesk.user_deactivated")
def end_sessions_of_deactivated_user(sender, instance, created=False, raw=False, **kwargs):
    if raw or created or instance.is_active or not getattr(instance, "_helpdesk_was_active", None):
        return
    operator = Operator.objects.filter(user_id=instance.pk).first()
    if operator is None:
        return
    set_offline_everywhere(operator=operator, reason="logged_out")
    end_operator_sessions(operator.pk)


@receiver(post_delete, sender="helpdesk.Operator", dispatch_uid="helpdesk.operator_deleted")
def end_sessions_of_deleted_operator(sender, instance, **kwargs):
    """Also runs when the operator goes with their user (cascade)."""
    end_operator_sessions(instance.pk)
