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
    path("wrap-up/mine/", views.my_wrap_ups, name="my_wrap_ups"),
    path("wrap-up/<int:wrap_up_id>/disposition/", views.wrap_up_disposition, name="wrap_up_disposition"),
    path("wrap-up/<int:wrap_up_id>/done/", views.wrap_up_done, name="wrap_up_done"),
    path("wrap-up/<int:wrap_up_id>/skip/", views.wrap_up_skip, name="wrap_up_skip"),
    path("admin/", admin.site.urls),
    path("", include("helpdesk.chat_urls")),
    path("transfers/", include("transfers.urls")),
    path("phone/", include("telephony.urls")),
    path("reports/", include("reporting.urls")),
    path("supervisor/", include("supervision.urls")),
    path("api/", include("api.urls")),
]
