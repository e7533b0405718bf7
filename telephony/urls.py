"""Mounted at /phone/: the phone console, its acts, the caller simulator and provider webhooks."""

from django.urls import path

from . import views

app_name = "telephony"

urlpatterns = [
    path("", views.console, name="console"),
    path("api/current/", views.current_calls, name="current"),
    path("api/targets/", views.targets, name="targets"),
    path("api/availability/", views.availability, name="availability"),
    path("api/calls/<int:call_id>/<slug:act>/", views.call_act, name="call_act"),
    path("api/legs/<int:leg_id>/<slug:act>/", views.leg_act, name="leg_act"),
    path("simulator/", views.simulator, name="simulator"),
    path("simulator/api/calls/", views.simulator_place_call, name="simulator_place_call"),
    path("simulator/api/calls/<str:token>/", views.simulator_call, name="simulator_call"),
    path("simulator/api/calls/<str:token>/hang-up/", views.simulator_hang_up, name="simulator_hang_up"),
    path("simulator/api/outside/", views.simulator_outside_line, name="simulator_outside"),
    path(
        "simulator/api/outside/legs/<int:leg_id>/<slug:act>/", views.simulator_outside_act, name="simulator_outside_act"
    ),
    path("webhooks/twilio/voice/", views.twilio_voice, name="twilio_voice"),
    path("webhooks/<slug:provider>/", views.webhook, name="webhook"),
]
