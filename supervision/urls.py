"""Mounted at /supervisor/: the supervisor's live console."""

from django.urls import path

from . import views

app_name = "supervision"
urlpatterns = [
    path("", views.wallboard_page, name="wallboard"),
    path("watching/", views.watching, name="watching"),
]
