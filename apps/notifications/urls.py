from django.urls import path

from apps.notifications import views

urlpatterns = [
    path("", views.notification_list_view, name="notification-list"),
    path("test/", views.notification_test_view, name="notification-test"),
    path("read-all/", views.notification_read_all_view, name="notification-read-all"),
    path("<int:pk>/", views.notification_detail_view, name="notification-detail"),
    path("<int:pk>/read/", views.notification_read_view, name="notification-read"),
]
