from django.urls import path

from . import views

app_name = "reporting"

urlpatterns = [
    path("", views.reports_page, name="page"),
    path("export/<slug:name>.<str:fmt>", views.export, name="export"),
]
