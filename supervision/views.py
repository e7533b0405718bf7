"""The supervisor's console page: the wallboard and the monitor, filled live by /ws/supervisor/;
and what the operator console asks supervision after each `hello`: who watches my chats."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from helpdesk.http import operator_json_view
from helpdesk.models import Operator, Queue

from . import frames, selectors


def wallboard_page(request):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    sites = selectors.supervised_sites(request.user)
    if not sites:
        raise PermissionDenied("The supervisor console is for supervisors and managers of a site.")
    site_ids = [s.pk for s in sites]
    board = frames.wallboard_frame(selectors.wallboard(sites=sites), at=timezone.now())
    targets = {
        "operators": [
            {"id": o.pk, "name": o.display_name, "site_id": o.site_id}
            for o in Operator.objects.filter(site_id__in=site_ids, user__is_active=True).order_by("display_name")
        ],
        "queues": [
            {"id": q.pk, "name": q.name, "site_id": q.site_id, "media": q.media}
            for q in Queue.objects.filter(site_id__in=site_ids).order_by("name")
        ],
    }
    return render(request, "supervision/wallboard.html", {"sites": sites, "board": board, "targets": targets})


@require_GET
@operator_json_view
def watching(request, operator):
    """Who watches each of my live engagements now (docs/realtime.md, "Who is watching").

    The console gets `engagement.watchers` frames live, but its `hello` cannot carry them: the core
    builds `hello` and must not import supervision (the layers in pyproject.toml). So, as with
    /transfers/mine/, the console asks here after every `hello` and redraws from the answer.
    """
    return JsonResponse({"engagements": selectors.watchers_of_operators_engagements(operator=operator)})
