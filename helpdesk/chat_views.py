"""Live chat pages: thin views that read with selectors and act with services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors
from .errors import ChatError, NotAllowed
from .http import json_body, json_view
from .models import Availability, Engagement, Media, Queue
from .services.engagements import VISITOR_NAME_MAX_LENGTH, start_chat
from .services.hours import describe_opening, opening_of, queue_taking_contacts
from .services.presence import ensure_availabilities
from .services.transcripts import request_transcript_email
from .visitor_tokens import engagement_id_from_token, make_visitor_token, token_opens


@login_required
def console(request):
    """The operator's console; everything live comes over the operator socket."""
    operator = getattr(request.user, "operator", None)
    if operator is None:
        raise PermissionDenied("Only operators have a console.")
    availabilities = {a.media: a for a in ensure_availabilities(operator=operator)}
    return render(
        request,
        "helpdesk/console.html",
        {
            "operator": operator,
            "availabilities": [availabilities[media] for media in Media.values],
            "statuses": Availability.Status.choices,
            "engagements": selectors.console_engagements_of(operator=operator),
            "served_queues": selectors.queues_served_by(operator=operator),
            "canned": {
                "operator_name": operator.display_name,
                "responses": selectors.canned_responses_for(operator=operator),
            },
        },
    )


@require_http_methods(["GET", "POST"])
def visitor_start(request):
    """Pick a queue (or take the site's default), give an optional name, start chatting."""
    site_id = request.GET.get("site") or request.POST.get("site")
    site_id = int(site_id) if site_id and site_id.isdigit() else None
    queues = list(selectors.chat_queues_for_visitors(site_id=site_id))
    error = ""
    name = ""
    if request.method == "POST":
        name = request.POST.get("name", "")
        queue = pick_queue(queues, request.POST.get("queue", ""))
        if queue is None:
            error = "Please pick what you need help with."
        else:
            try:
                engagement = start_chat(queue=queue, visitor_name=name)
            except ChatError as chat_error:
                if chat_error.code == "closed":  # say when it opens and offer an offline message
                    return redirect("visitor_closed", queue_id=queue.pk)
                error = chat_error.message
            else:
                token = make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)
                return redirect("visitor_chat", token=token)
    selected = request.GET.get("queue", "")
    return render(
        request,
        "helpdesk/visitor_start.html",
        {
            "queues": queues,
            "closed": closed_queues(queues),
            "selected": int(selected) if selected.isdigit() else None,
            "site_id": site_id,
            "name": name,
            "name_max_length": VISITOR_NAME_MAX_LENGTH,
            "error": error,
        },
        status=400 if error else 200,
    )


def closed_queues(queues: list[Queue]) -> dict[int, str]:
    """For the picker: each queue that takes no chat now (closed, and no open queue stands in for
    it), with when it opens next ("" if it has no opening)."""
    now = timezone.now()
    closed = {}
    for queue in queues:
        try:
            queue_taking_contacts(queue=queue, now=now)
        except ChatError:
            opens = opening_of(queue=queue, now=now)
            when = opens.next_opening
            closed[queue.pk] = describe_opening(when, opens.time_zone, now=now) if when else ""
    return closed


def pick_queue(queues: list[Queue], chosen: str) -> Queue | None:
    """The queue the visitor chose, else the default queue when only one site is on offer."""
    if chosen.isdigit():
        return next((q for q in queues if q.pk == int(chosen)), None)
    defaults = [q for q in queues if q.is_default]
    return defaults[0] if len(defaults) == 1 else None


@ensure_csrf_cookie  # the transcript form posts with it once the chat has ended
def visitor_chat(request, token: str):
    """The visitor's conversation; a reload renders it whole, the socket carries what follows."""
    engagement_id = engagement_id_from_token(token)
    if engagement_id is None:
        raise Http404("No such conversation.")
    try:
        engagement = Engagement.objects.select_related("owner", "queue", "visitor", "site").get(pk=engagement_id)
    except Engagement.DoesNotExist:
        raise Http404("No such conversation.")
    if not token_opens(engagement):  # ended longer ago than tokens last: say so, show nothing of it
        return render(request, "helpdesk/visitor_chat_ended.html", {"site": engagement.site})
    return render(
        request,
        "helpdesk/visitor_chat.html",
        {
            "engagement": engagement,
            "token": token,
            "messages_": selectors.messages_after(engagement_id=engagement.pk, after_seq=0),
            "position": selectors.queue_position(engagement=engagement),
            "estimated_wait_minutes": selectors.wait_estimate_of(engagement=engagement),
        },
    )


@require_POST
@json_view
def visitor_transcript(request, token: str):
    """E-mail the ended chat's transcript to the address the visitor gives (sent by a task)."""
    engagement_id = engagement_id_from_token(token)
    engagement = Engagement.objects.select_related("site").filter(pk=engagement_id).first() if engagement_id else None
    if engagement is None or not token_opens(engagement):
        raise NotAllowed("not_found", "This conversation is no longer available.")
    sent = request_transcript_email(engagement_id=engagement.pk, address=json_body(request).get("email"))
    return JsonResponse({"transcript": {"address": sent.address, "requested_at": sent.requested_at.isoformat()}})
