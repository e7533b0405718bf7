"""The visitor's page of a closed queue: when it opens next, and a form to leave a message."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from .errors import ChatError
from .models import Media, Queue
from .services.engagements import VISITOR_NAME_MAX_LENGTH
from .services.hours import describe_opening, opening_of
from .services.offline import EMAIL_MAX_LENGTH, leave_offline_message


class OfflineMessageForm(forms.Form):
    name = forms.CharField(
        max_length=VISITOR_NAME_MAX_LENGTH, error_messages={"required": "Please give your name."}, strip=True
    )
    email = forms.EmailField(
        label="E-mail",
        max_length=EMAIL_MAX_LENGTH,
        error_messages={
            "required": "Please give your e-mail address, so that we can answer you.",
            "invalid": "That is not an e-mail address (it looks like name@example.com).",
        },
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=settings.MESSAGE_MAX_LENGTH,
        error_messages={"required": "Please write your message."},
    )


@require_http_methods(["GET", "POST"])
def visitor_closed(request, queue_id: int):
    """Closed now: say when the queue opens next and take a message; open: offer a chat instead."""
    queue = get_object_or_404(Queue.objects.select_related("site"), pk=queue_id, media=Media.CHAT)
    opening = opening_of(queue=queue)
    form = OfflineMessageForm(request.POST or None)
    sent = False
    if request.method == "POST" and form.is_valid():
        try:
            leave_offline_message(
                queue=queue,
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                body=form.cleaned_data["message"],
            )
        except ChatError as error:
            form.add_error(None, error.message)
        else:
            sent = True
    opens = ""
    if opening.next_opening:
        opens = describe_opening(opening.next_opening, opening.time_zone, now=timezone.now())
    return render(
        request,
        "helpdesk/visitor_closed.html",
        {"queue": queue, "opening": opening, "opens": opens, "form": form, "sent": sent},
        status=400 if form.errors else 200,
    )
