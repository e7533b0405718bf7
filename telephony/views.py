"""Phone pages and their JSON acts: thin views that parse, authorise, call one service, answer.

Acts answer with the call's fresh snapshot; the same snapshot reaches every operator on the
call as a `call.state` frame over the operator socket. Bodies, ids and domain errors go through
the core's JSON helpers (helpdesk/http.py): a refused act answers `{"error": {"code", "message"}}`
with the error's HTTP status, a malformed request 400 with code `invalid`.
"""

from __future__ import annotations

import logging
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from helpdesk.errors import BadRequest, DomainError
from helpdesk.http import error_payload, json_body, json_view, operator_json_view, optional_id
from helpdesk.models import Availability, DispositionCode, Media, Queue
from helpdesk.selectors import codes_of
from helpdesk.services.presence import ensure_availabilities, set_availability

from . import frames, selectors, services
from .errors import CallError, WebhookRejected
from .models import Call, Leg
from .providers import get_provider

logger = logging.getLogger(__name__)

CALLER_SALT = "telephony.caller"


def _operator(request):
    operator = getattr(request.user, "operator", None)
    if operator is None:
        raise PermissionDenied("Only operators have a phone.")
    return operator


def _snapshot(call_id: int) -> dict:
    call, legs = selectors.call_with_legs(call_id=call_id)
    return frames.call_snapshot(call, legs)


# --- the phone console (operators) -----------------------------------------------------------


@login_required
def console(request):
    operator = _operator(request)
    voice = next(a for a in ensure_availabilities(operator=operator) if a.media == Media.VOICE)
    return render(
        request,
        "telephony/console.html",
        {
            "operator": operator,
            "voice": voice,
            "statuses": Availability.Status.choices,
            "calls": [_snapshot(call.pk) for call in selectors.current_calls_of(operator=operator)],
            "recent": selectors.recent_calls_of(operator=operator),
        },
    )


@operator_json_view
@require_GET
def current_calls(request, operator):
    calls = [_snapshot(call.pk) for call in selectors.current_calls_of(operator=operator)]
    voice = Availability.objects.filter(operator=operator, media=Media.VOICE).first()
    return JsonResponse(
        {
            "operator_id": operator.pk,
            "voice": {"status": voice.status, "load": voice.load, "capacity": voice.capacity} if voice else None,
            "calls": calls,
        }
    )


@operator_json_view
@require_GET
def targets(request, operator):
    """The Transfer/Conf picker: skills (waiting, available operators) and operators (voice)."""
    search = request.GET.get("q", "").strip()[:100]
    skills = [
        {
            "id": stat.queue.pk,
            "name": stat.queue.name,
            "waiting": stat.waiting,
            "longest_wait_seconds": stat.longest_wait_seconds,
            "available_operators": stat.available_operators,
        }
        for stat in selectors.skill_targets(operator=operator)
        if not search or search.lower() in stat.queue.name.lower()
    ]
    operators = [
        {
            "id": target.operator.pk,
            "name": target.operator.display_name,
            "email": target.operator.email,
            "teams": [team.name for team in target.operator.teams.all()],
            "status": target.status,
            "can_take_call": target.can_take_call,
        }
        for target in selectors.operator_targets(operator=operator, search=search)
    ]
    # With ?call=<id> of a call the operator owns: its queue's transfer reasons (issue 14.2).
    call_id = optional_id(request.GET.get("call"), field="call")
    call = Call.objects.filter(pk=call_id, engagement__owner=operator).select_related("engagement__queue").first()
    queue = call.engagement.queue if call_id and call else None
    reasons = codes_of(queue_id=queue.pk, kind=DispositionCode.Kind.TRANSFER) if queue else []
    return JsonResponse(
        {
            "skills": skills,
            "operators": operators,
            "reasons": [{"id": code.pk, "name": code.name} for code in reasons],
            "reason_required": bool(queue and queue.transfer_reason_required and reasons),
        }
    )


@operator_json_view
@require_POST
def availability(request, operator):
    status = json_body(request).get("status")
    if status not in Availability.Status.values:
        raise BadRequest("invalid", "Unknown status.")
    voice = set_availability(operator=operator, media=Media.VOICE, status=status)
    return JsonResponse({"status": voice.status, "load": voice.load, "capacity": voice.capacity})


CALL_ACTS = {
    "hold": services.put_on_hold,
    "unhold": services.take_off_hold,
    "hang-up-consult": services.hang_up_consult,
    "cold-transfer": services.cold_transfer,
    "conference": services.conference,
    "release": services.release_call,
    "end-conference": services.end_conference,
}


@operator_json_view
@require_POST
def call_act(request, operator, call_id: int, act: str):
    if act == "consult":
        body = json_body(request)
        services.start_consult(
            call_id=call_id,
            operator=operator,
            queue_id=optional_id(body.get("queue_id"), field="queue_id"),
            operator_id=optional_id(body.get("operator_id"), field="operator_id"),
            phone_number=body.get("phone_number") or None,
            reason_id=body.get("reason_id"),
        )
    elif act in CALL_ACTS:
        CALL_ACTS[act](call_id=call_id, operator=operator)
    else:
        raise Http404("No such act.")
    return JsonResponse({"call": _snapshot(call_id)})


LEG_ACTS = {"answer": services.answer_leg, "decline": services.decline_leg, "hang-up": services.hang_up}


@operator_json_view
@require_POST
def leg_act(request, operator, leg_id: int, act: str):
    if act not in LEG_ACTS:
        raise Http404("No such act.")
    call = LEG_ACTS[act](leg_id=leg_id, operator=operator)
    return JsonResponse({"call": _snapshot(call.pk)})


# --- the caller simulator (no login; the caller holds a signed token for their call) ---------


def make_caller_token(call: Call) -> str:
    return signing.dumps({"c": call.pk}, salt=CALLER_SALT)


def _call_from_token(token: str) -> Call:
    try:
        payload = signing.loads(token, salt=CALLER_SALT)
        return Call.objects.get(pk=int(payload["c"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, Call.DoesNotExist):
        raise Http404("No such call.") from None


def simulator_view(view):
    """The simulator's pages and API exist only where `TELEPHONY_SIMULATOR` is on (off by default
    in production: anyone could place calls) and with the built-in provider; elsewhere every one
    of them answers 404, whatever the method, before anything else runs."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.TELEPHONY_SIMULATOR:
            raise Http404("The caller simulator is switched off.")
        if get_provider().name != "builtin":
            raise Http404("The simulator runs with the built-in provider only.")
        return view(request, *args, **kwargs)

    return wrapper


@simulator_view
def simulator(request):
    queues = Queue.objects.filter(media=Media.VOICE).select_related("site").order_by("site__name", "name")
    return render(request, "telephony/simulator.html", {"queues": queues})


@simulator_view
@require_POST
@json_view
def simulator_place_call(request):
    """The simulated caller dials a voice queue; answers with the call token and their view."""
    body = json_body(request)
    queue_id = optional_id(body.get("queue_id"), field="queue_id")
    queue = Queue.objects.filter(pk=queue_id or 0, media=Media.VOICE).first()
    if queue is None:
        raise CallError("not_found", "Pick a line to call.")
    call = services.place_call(
        queue=queue, caller_name=str(body.get("name", ""))[:100], phone_number=body.get("phone_number") or ""
    )
    return JsonResponse({"token": make_caller_token(call), "call": frames.caller_view(_snapshot(call.pk))}, status=201)


@simulator_view
@require_GET
def simulator_call(request, token: str):
    call = _call_from_token(token)
    return JsonResponse({"call": frames.caller_view(_snapshot(call.pk))})


@simulator_view
@require_POST
@json_view
def simulator_hang_up(request, token: str):
    call = _call_from_token(token)
    customer = call.legs.get(kind=Leg.Kind.CUSTOMER)
    services.hang_up(leg_id=customer.pk)
    return JsonResponse({"call": frames.caller_view(_snapshot(call.pk))})


@simulator_view
@require_GET
def simulator_outside_line(request):
    """Calls ringing or connected to an outside number (the simulator answers for that number)."""
    try:
        number = services.validate_phone_number(request.GET.get("number", ""))
    except CallError as error:
        return JsonResponse(error_payload(error), status=400)
    legs = Leg.objects.filter(kind=Leg.Kind.PHONE, phone_number=number, state__in=Leg.OPEN_STATES).order_by("pk")
    return JsonResponse({"number": number, "legs": [{"id": leg.pk, "state": leg.state} for leg in legs]})


@simulator_view
@require_POST
@json_view
def simulator_outside_act(request, leg_id: int, act: str):
    if not Leg.objects.filter(pk=leg_id, kind=Leg.Kind.PHONE).exists():
        raise Http404("No such outside call.")
    if act == "answer":
        call = services.answer_leg(leg_id=leg_id)
    elif act == "hang-up":
        call = services.hang_up(leg_id=leg_id)
    else:
        raise Http404("No such act.")
    leg = Leg.objects.get(pk=leg_id)
    return JsonResponse({"leg": {"id": leg.pk, "state": leg.state, "call_id": call.pk}})


# --- provider webhooks ----------------------------------------------------------------------------


@csrf_exempt
@require_POST
def twilio_voice(request):
    """Twilio's Voice URL for a number: a caller rings in, joins the queue given in the (signed)
    address, and is put into their call's conference."""
    backend = get_provider()
    if backend.name != "twilio":
        raise Http404("Twilio is not the provider in use.")
    url = settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
    params = request.POST.dict()
    try:
        backend.validate_webhook(url=url, params=params, signature=request.headers.get("X-Twilio-Signature", ""))
    except WebhookRejected as error:
        logger.warning("Rejected Twilio voice webhook: %s", error)
        return HttpResponse(status=403)
    queue_id = optional_id(request.GET.get("queue"), field="queue")
    queue = Queue.objects.filter(pk=queue_id or 0, media=Media.VOICE).first()
    if queue is None:
        raise Http404("No such voice queue.")
    try:
        number = services.validate_phone_number(params.get("From", ""))
    except CallError:
        number = ""
    try:
        call = services.place_call(queue=queue, caller_name=params.get("CallerName", "")[:100], phone_number=number)
    except CallError as error:
        if error.code != "closed":
            raise
        return HttpResponse(backend.closed_twiml(message=error.message), content_type="text/xml")
    Leg.objects.filter(call=call, kind=Leg.Kind.CUSTOMER).update(provider_leg_id=params.get("CallSid", ""))
    return HttpResponse(backend.incoming_call_twiml(call_id=call.pk), content_type="text/xml")


@csrf_exempt
@require_POST
def webhook(request, provider: str):
    """Status callbacks of the configured provider: authentic ones are applied once, in order."""
    backend = get_provider()
    if provider != backend.name:
        raise Http404("That provider is not in use.")
    url = settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
    params = request.POST.dict()
    signature = request.headers.get("X-Twilio-Signature", "") or request.headers.get("X-Provider-Signature", "")
    try:
        provider_events = backend.parse_webhook(url=url, params=params, signature=signature)
    except WebhookRejected as error:
        logger.warning("Rejected %s webhook: %s", provider, error)
        return HttpResponse(status=403)
    for event in provider_events:
        try:
            services.apply_provider_event(provider=backend.name, event=event)
        except DomainError as error:  # the act no longer applies: the event is stale, not an error
            logger.info("Provider event %s not applied: %s", event.kind, error.code)
    return HttpResponse(status=204)
