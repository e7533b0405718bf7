from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import views

app_name = "api"

router = DefaultRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("teams", views.TeamViewSet, basename="team")
router.register("operators", views.OperatorViewSet, basename="operator")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("engagements", views.EngagementViewSet, basename="engagement")
router.register("messages", views.MessageViewSet, basename="message")
router.register("notes", views.NoteViewSet, basename="note")
router.register("transfers", views.TransferViewSet, basename="transfer")
router.register("calls", views.CallViewSet, basename="call")
router.register("legs", views.LegViewSet, basename="leg")
router.register("audit/supervisor-acts", views.SupervisorActViewSet, basename="supervisor-act")
router.register("audit/admin-changes", views.AdminChangeViewSet, basename="admin-change")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("metrics/", views.MetricsView.as_view(), name="metrics"),
    path("metrics/operations/", views.OperationsMetricsView.as_view(), name="metrics-operations"),
    *router.urls,
]
