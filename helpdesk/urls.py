from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .health import health_view

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("health/", health_view, name="health"),
    path("admin/", admin.site.urls),
    path("", include("helpdesk.chat_urls")),
    path("transfers/", include("transfers.urls")),
    path("phone/", include("telephony.urls")),
    path("reports/", include("reporting.urls")),
    path("supervisor/", include("supervision.urls")),
    path("api/", include("api.urls")),
]
