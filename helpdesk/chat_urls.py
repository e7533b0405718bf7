"""Pages of live chat: the operator console and the visitor's chat page."""

from django.urls import path

from . import chat_views, offline_views

urlpatterns = [
    path("console/", chat_views.console, name="console"),
    path("chat/", chat_views.visitor_start, name="visitor_start"),
    path("chat/closed/<int:queue_id>/", offline_views.visitor_closed, name="visitor_closed"),
    path("chat/<str:token>/", chat_views.visitor_chat, name="visitor_chat"),
    path("chat/<str:token>/transcript/", chat_views.visitor_transcript, name="visitor_transcript"),
]
