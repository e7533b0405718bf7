"""The transfer dialog's HTTP acts, mounted at /transfers/."""

from django.urls import path

from . import views

app_name = "transfers"

urlpatterns = [
    path("mine/", views.mine, name="mine"),
    path("recent/", views.recent, name="recent"),
    path("engagements/<int:engagement_id>/", views.engagement_transfers, name="engagement"),
    path("engagements/<int:engagement_id>/targets/", views.targets, name="targets"),
    path("engagements/<int:engagement_id>/request/", views.request_transfer, name="request"),
    path("<int:transfer_id>/accept/", views.accept, name="accept"),
    path("<int:transfer_id>/decline/", views.decline, name="decline"),
    path("<int:transfer_id>/cancel/", views.cancel, name="cancel"),
    path("<int:transfer_id>/now/", views.transfer_now, name="now"),
    path("<int:transfer_id>/transcript/", views.transcript, name="transcript"),
]
