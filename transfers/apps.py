from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "transfers"
    verbose_name = "Chat transfers"

    def ready(self):
        from helpdesk.signals import (
            engagement_ended,
            operator_became_unavailable,
            operator_reached_capacity,
            visitor_hello,
        )

        from . import receivers

        operator_became_unavailable.connect(
            receivers.on_operator_became_unavailable, dispatch_uid="transfers.unavailable"
        )
        operator_reached_capacity.connect(
            receivers.on_operator_reached_capacity, dispatch_uid="transfers.reached_capacity"
        )
        engagement_ended.connect(receivers.on_engagement_ended, dispatch_uid="transfers.engagement_ended")
        visitor_hello.connect(receivers.visitor_hello_fields, dispatch_uid="transfers.visitor_hello")
