"""After-contact work on the queue's admin page: the queue's codes (dispositions and transfer
reasons) as an inline, the wrap-up settings checked in the queue form, and the wrap-up history
(read-only, for reports)."""

from __future__ import annotations

from django.contrib import admin

from helpdesk.models import DispositionCode, WrapUp, WrapUpMode

from .scoping import ReadOnlyScopedAdmin, SiteScopedMixin

WRAP_UP_FIELDS = [
    "wrap_up_mode", "wrap_up_seconds", "disposition_required", "default_disposition", "transfer_reason_required",
]  # fmt: skip
WRAP_UP_SECONDS_MIN = 5


def limit_default_disposition(form) -> None:
    """The default disposition is one of this queue's saved, active dispositions (none on the add page)."""
    field = form.fields.get("default_disposition")
    if field is None:
        return
    queue = form.instance
    codes = DispositionCode.objects.filter(kind=DispositionCode.Kind.DISPOSITION, active=True)
    field.queryset = codes.filter(queue=queue) if queue.pk else codes.none()


def clean_wrap_up(form) -> None:
    """The wrap-up settings make sense together; each problem is said beside its field."""
    data = form.cleaned_data
    mode, default = data.get("wrap_up_mode"), data.get("default_disposition")
    seconds = data.get("wrap_up_seconds")
    if mode == WrapUpMode.TIMED and seconds is not None and seconds < WRAP_UP_SECONDS_MIN:
        form.add_error("wrap_up_seconds", f"Give operators at least {WRAP_UP_SECONDS_MIN} seconds.")
    if default is not None and form.instance.pk and default.queue_id != form.instance.pk:
        form.add_error("default_disposition", "Pick a disposition of this queue.")
    if mode == WrapUpMode.TIMED and data.get("disposition_required") and default is None:
        form.add_error(
            "default_disposition",
            "A time-boxed wrap-up that requires a disposition needs a default one, stored when time runs out "
            "(save the queue's dispositions first, then pick it here).",
        )


class DispositionCodeInline(SiteScopedMixin, admin.TabularInline):
    model = DispositionCode
    site_path = "queue__site"
    fields = ["kind", "name", "code", "active", "order"]
    extra = 0
    verbose_name = "code"
    verbose_name_plural = "Codes: dispositions (picked in wrap-up) and transfer reasons (picked in the transfer dialog)"


@admin.register(WrapUp)
class WrapUpAdmin(ReadOnlyScopedAdmin):
    site_path = "queue__site"
    list_display = ["engagement", "operator", "queue", "mode", "started_at", "ended_at", "ended_because", "disposition"]
    list_filter = ["queue", "mode", "ended_because", "operator"]
    list_select_related = ["engagement__visitor", "operator", "queue", "disposition"]
    date_hierarchy = "started_at"
    search_fields = ["=engagement__id", "operator__display_name", "disposition__name"]
