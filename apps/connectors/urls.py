from django.urls import path

from apps.connectors import views

urlpatterns = [
    path("twilio/sms/<uuid:key>/", views.twilio_sms_view, name="connectors-twilio-sms"),
    path(
        "twilio/sms/<uuid:key>/status/",
        views.twilio_sms_status_view,
        name="connectors-twilio-sms-status",
    ),
    path("twilio/voice/<uuid:key>/", views.twilio_voice_view, name="connectors-twilio-voice"),
    path(
        "twilio/voice/<uuid:key>/gather/",
        views.twilio_voice_gather_view,
        name="connectors-twilio-voice-gather",
    ),
    path(
        "twilio/voice/<uuid:key>/wait/",
        views.twilio_voice_wait_view,
        name="connectors-twilio-voice-wait",
    ),
    path(
        "twilio/voice/<uuid:key>/client/",
        views.twilio_voice_client_view,
        name="connectors-twilio-voice-client",
    ),
    path(
        "twilio/voice/<uuid:key>/status/",
        views.twilio_voice_status_view,
        name="connectors-twilio-voice-status",
    ),
    path(
        "twilio/voice/<uuid:key>/recording/",
        views.twilio_voice_recording_view,
        name="connectors-twilio-voice-recording",
    ),
    path(
        "twilio/voice/<uuid:key>/transcription/",
        views.twilio_voice_transcription_view,
        name="connectors-twilio-voice-transcription",
    ),
    path(
        "twilio/voice/<uuid:key>/recording-status/",
        views.twilio_voice_recording_status_view,
        name="connectors-twilio-voice-recording-status",
    ),
    path("meta/<uuid:key>/", views.meta_view, name="connectors-meta"),
    path("x/<uuid:key>/", views.x_view, name="connectors-x"),
    path("fax/<uuid:key>/", views.fax_view, name="connectors-fax"),
    path("media/<str:token>/", views.media_view, name="connectors-media"),
]
