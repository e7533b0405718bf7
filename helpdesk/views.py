"""Home, logout, and the wrap-up panel's acts."""

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from . import selectors
from .http import json_body, operator_json_view
from .realtime import end_operator_sessions
from .services import wrapup
from .services.presence import set_offline_everywhere


@login_required
def home(request):
    """Operators land on their console, managers on the admin."""
    if hasattr(request.user, "operator"):
        return redirect("console")
    return redirect("admin:index")


@require_POST
def logout_view(request):
    """Logging out takes the operator offline everywhere, which withdraws offers to them."""
    operator = getattr(request.user, "operator", None)
    if operator is not None:
        set_offline_everywhere(operator=operator, reason="logged_out")
        end_operator_sessions(operator.pk)
    logout(request)
    return redirect("login")


# --- the wrap-up panel's JSON acts (helpdesk/services/wrapup.py; frames in docs/realtime.md) ---


def wrap_up_answer(wrap_up) -> JsonResponse:
    return JsonResponse({"wrap_up": selectors.wrap_up_view(wrap_up)})


@require_GET
@operator_json_view
def my_wrap_ups(request, operator):
    """The operator's open wrap-ups (the console redraws its panel from them after a reconnect)."""
    return JsonResponse({"wrap_ups": selectors.open_wrap_ups_of(operator=operator)})


@require_POST
@operator_json_view
def wrap_up_disposition(request, operator, wrap_up_id: int):
    body = json_body(request)
    return wrap_up_answer(
        wrapup.choose_disposition(wrap_up_id=wrap_up_id, operator=operator, disposition_id=body.get("disposition_id"))
    )


@require_POST
@operator_json_view
def wrap_up_done(request, operator, wrap_up_id: int):
    body = json_body(request)
    return wrap_up_answer(
        wrapup.finish_wrap_up(wrap_up_id=wrap_up_id, operator=operator, disposition_id=body.get("disposition_id"))
    )


@require_POST
@operator_json_view
def wrap_up_skip(request, operator, wrap_up_id: int):
    return wrap_up_answer(wrapup.skip_wrap_up(wrap_up_id=wrap_up_id, operator=operator))
