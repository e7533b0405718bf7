"""Business hours and overflow of a queue, edited as inlines of the queue's admin page.

Every check a manager can trip says what is wrong beside the field or at the top of its table,
and the admin saves nothing of the queue while any inline is invalid (Django validates the
queue form and every inline before the first write).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from helpdesk.models import Holiday, OpeningSlot, QueueHours, QueueOverflow

from .scoping import SiteScopedMixin


def parent_queue(form):
    """The queue whose page this inline is on (unsaved on the add page, but filled in from its form)."""
    try:
        return form.instance.queue
    except QueueHours.queue.RelatedObjectDoesNotExist:
        return None


def same_media_other_queue(form, field: str, *, itself: str) -> None:
    queue, other = parent_queue(form), form.cleaned_data.get(field)
    if other is None or queue is None:
        return
    if queue.pk and other.pk == queue.pk:
        form.add_error(field, itself)
    elif other.media != queue.media:
        form.add_error(field, f"That queue takes {other.get_media_display()}, not {queue.get_media_display()}.")


class OpeningSlotForm(forms.ModelForm):
    class Meta:
        model = OpeningSlot
        fields = ["weekday", "opens_at", "closes_at"]
        widgets = {"opens_at": forms.TimeInput(format="%H:%M"), "closes_at": forms.TimeInput(format="%H:%M")}

    def clean(self):
        cleaned = super().clean()
        opens, closes = cleaned.get("opens_at"), cleaned.get("closes_at")
        if opens is not None and closes is not None and closes <= opens:
            self.add_error("closes_at", f"A slot must end after it starts ({closes:%H:%M} is not after {opens:%H:%M}).")
        return cleaned


class OpeningSlotFormSet(forms.BaseInlineFormSet):
    def clean(self):
        """Two slots of one weekday may touch (12:00 end, 12:00 start) but not overlap."""
        super().clean()
        slots = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or form.errors:
                continue
            if data.get("weekday") is None or not data.get("opens_at") or not data.get("closes_at"):
                continue
            slots.append((data["weekday"], data["opens_at"], data["closes_at"]))
        slots.sort()
        problems = []
        for (day, opens, closes), (next_day, next_opens, next_closes) in zip(slots, slots[1:], strict=False):
            if day == next_day and next_opens < closes:
                weekday = OpeningSlot.Weekday(day).label
                problems.append(
                    f"{weekday}: {opens:%H:%M}–{closes:%H:%M} overlaps {next_opens:%H:%M}–{next_closes:%H:%M}."
                )
        if problems:
            raise ValidationError(["Opening slots overlap; make them follow each other.", *problems])


class QueueHoursForm(forms.ModelForm):
    class Meta:
        model = QueueHours
        fields = ["time_zone", "closed_action", "closed_queue", "closed_message"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("closed_action") == QueueHours.ClosedAction.QUEUE and cleaned.get("closed_queue") is None:
            self.add_error("closed_queue", "Pick the queue that takes contacts while this one is closed.")
        same_media_other_queue(self, "closed_queue", itself="A queue cannot stand in for itself.")
        return cleaned


class QueueOverflowForm(forms.ModelForm):
    class Meta:
        model = QueueOverflow
        fields = ["overflow_queue", "after_seconds", "when_no_operator"]

    def clean_after_seconds(self):
        seconds = self.cleaned_data.get("after_seconds")
        if seconds is not None and seconds < 1:
            raise ValidationError(
                "Give at least 1 second (or leave it empty to overflow only when nobody is available)."
            )
        return seconds

    def clean(self):
        cleaned = super().clean()
        same_media_other_queue(self, "overflow_queue", itself="A queue cannot overflow into itself.")
        if cleaned.get("after_seconds") is None and not cleaned.get("when_no_operator"):
            self.add_error(
                "after_seconds", "Say after how many seconds, or tick “when no operator”: it never overflows."
            )
        return cleaned


class QueueHoursInline(SiteScopedMixin, admin.StackedInline):
    model = QueueHours
    form = QueueHoursForm
    fk_name = "queue"
    site_path = "queue__site"
    max_num = 1
    extra = 0
    verbose_name = "Business hours: time zone and when closed"


class OpeningSlotInline(SiteScopedMixin, admin.TabularInline):
    model = OpeningSlot
    form = OpeningSlotForm
    formset = OpeningSlotFormSet
    site_path = "queue__site"
    extra = 0
    verbose_name_plural = "Opening slots (none: open around the clock)"


class HolidayInline(SiteScopedMixin, admin.TabularInline):
    model = Holiday
    site_path = "queue__site"
    extra = 0
    verbose_name_plural = "Holidays (closed all day, local date)"


class QueueOverflowInline(SiteScopedMixin, admin.StackedInline):
    model = QueueOverflow
    form = QueueOverflowForm
    fk_name = "queue"
    site_path = "queue__site"
    max_num = 1
    extra = 0
    verbose_name = "Overflow"


HOURS_INLINES = [QueueHoursInline, OpeningSlotInline, HolidayInline, QueueOverflowInline]
