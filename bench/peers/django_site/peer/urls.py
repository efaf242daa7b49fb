"""The peer's routes: the bench's two pages and Django's own login view."""

from django.contrib.auth.views import LoginView
from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.baseline),
    path("login/", LoginView.as_view(), name="login"),
    path("bench/baseline", views.baseline),
    path("bench/protected", views.protected),
]
