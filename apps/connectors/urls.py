from django.urls import path

from apps.connectors import views

urlpatterns = [
    path("twilio/sms/<uuid:key>/", views.twilio_sms_view, name="connectors-twilio-sms"),
    path(
        "twilio/sms/<uuid:key>/status/",
        views.twilio_sms_status_view,
        name="connectors-twilio-sms-status",
    ),
    path("meta/<uuid:key>/", views.meta_view, name="connectors-meta"),
    path("x/<uuid:key>/", views.x_view, name="connectors-x"),
    path("fax/<uuid:key>/", views.fax_view, name="connectors-fax"),
    path("media/<str:token>/", views.media_view, name="connectors-media"),
]
