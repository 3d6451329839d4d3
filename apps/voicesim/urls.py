from django.urls import path

from apps.voicesim import views

API = "api/2010-04-01/Accounts/<str:account_sid>/"

urlpatterns = [
    path("", views.simulator_view, name="voicesim-home"),
    path("dial/", views.simulator_dial_view, name="voicesim-dial"),
    path("outbound/", views.simulator_outbound_view, name="voicesim-outbound"),
    path("calls/<int:pk>/", views.simulator_call_view, name="voicesim-call"),
    path("calls/<int:pk>/panel/", views.simulator_panel_view, name="voicesim-panel"),
    path("calls/<int:pk>/<str:action>/", views.simulator_action_view, name="voicesim-call-action"),
    path("phone/", views.phone_state_view, name="voicesim-phone"),
    path("phone/unregister/", views.phone_unregister_view, name="voicesim-phone-unregister"),
    path("phone/<int:pk>/<str:action>/", views.phone_action_view, name="voicesim-phone-action"),
    path(API + "Calls.json", views.api_calls_view, name="voicesim-api-calls"),
    path(API + "Calls/<str:call_sid>.json", views.api_call_view, name="voicesim-api-call"),
    path(API + "Conferences.json", views.api_conferences_view, name="voicesim-api-conferences"),
    path(
        API + "Conferences/<str:conference_sid>/Participants.json",
        views.api_participants_view,
        name="voicesim-api-participants",
    ),
    path(
        API + "Conferences/<str:conference_sid>/Participants/<str:call_sid>.json",
        views.api_participant_view,
        name="voicesim-api-participant",
    ),
    path(
        API + "Calls/<str:call_sid>/Recordings.json",
        views.api_call_recordings_view,
        name="voicesim-api-call-recordings",
    ),
    path(
        API + "Calls/<str:call_sid>/Recordings/<str:recording_sid>.json",
        views.api_call_recording_view,
        name="voicesim-api-call-recording",
    ),
    path(API + "Recordings.json", views.api_recordings_view, name="voicesim-api-recordings"),
    path(API + "Recordings/<str:name>", views.api_recording_view, name="voicesim-api-recording"),
]
