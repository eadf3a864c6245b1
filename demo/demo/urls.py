from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from demo import views

urlpatterns = [
    path("", views.home, name="home"),
    path("send/", views.send, name="send"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
