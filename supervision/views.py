"""The supervisor's console page: the wallboard and the monitor, filled live by /ws/supervisor/."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone

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
