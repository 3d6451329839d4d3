from django.urls import path

from apps.desk import chat, contacts, documents, phone, recordings, views

urlpatterns = [
    path("", views.desk_view, name="desk"),
    path("presence/", views.desk_presence_view, name="desk-presence"),
    path("layout/", views.desk_layout_view, name="desk-layout"),
    path("offers/<int:pk>/accept/", views.desk_offer_accept_view, name="desk-offer-accept"),
    path("offers/<int:pk>/reject/", views.desk_offer_reject_view, name="desk-offer-reject"),
    path("interactions/<int:pk>/", views.desk_interaction_view, name="desk-interaction"),
    path("interactions/<int:pk>/reply/", views.desk_reply_view, name="desk-reply"),
    path("interactions/<int:pk>/close/", views.desk_close_view, name="desk-close"),
    path("interactions/<int:pk>/transfer/", views.desk_transfer_view, name="desk-transfer"),
    path("interactions/<int:pk>/consult/", views.desk_consult_view, name="desk-consult"),
    path("interactions/<int:pk>/video/", views.desk_video_view, name="desk-video"),
    path("interactions/<int:pk>/template/", views.desk_template_view, name="desk-template"),
    path(
        "participants/<int:pk>/<slug:action>/",
        views.desk_participant_view,
        name="desk-participant",
    ),
    path("interactions/<int:pk>/hold/", views.desk_hold_view, name="desk-hold"),
    path("interactions/<int:pk>/mute/", views.desk_mute_view, name="desk-mute"),
    path("interactions/<int:pk>/callback/", views.desk_callback_view, name="desk-callback"),
    path("interactions/<int:pk>/tags/", views.desk_tags_view, name="desk-tags"),
    path("interactions/<int:pk>/notes/", views.desk_note_view, name="desk-note"),
    path("interactions/<int:pk>/block/", views.desk_block_view, name="desk-block"),
    path(
        "interactions/<int:pk>/follow-up/",
        views.desk_follow_up_create_view,
        name="desk-follow-up-create",
    ),
    path("follow-ups/<int:pk>/done/", views.desk_follow_up_done_view, name="desk-follow-up-done"),
    path("interactions/<int:pk>/canned/", views.desk_canned_view, name="desk-canned"),
    path("attachments/<int:pk>/", views.desk_attachment_view, name="desk-attachment"),
    path("chat/", chat.chat_home_view, name="desk-chat"),
    path("chat/<int:pk>/", chat.chat_room_view, name="desk-chat-room"),
    path("chat/<int:pk>/post/", chat.chat_post_view, name="desk-chat-post"),
    path("chat/with/<int:pk>/", chat.chat_direct_view, name="desk-chat-direct"),
    path("chat/files/<int:pk>/", chat.chat_file_view, name="desk-chat-file"),
    path("contacts/", contacts.contact_directory_view, name="desk-contacts"),
    path("documents/new/", documents.document_new_view, name="desk-document-new"),
    path("contacts/<int:pk>/", contacts.contact_page_view, name="desk-contact"),
    path(
        "interactions/<int:pk>/recording/<slug:action>/",
        recordings.desk_recording_control_view,
        name="desk-recording-control",
    ),
    path(
        "recordings/<int:pk>/audio/",
        recordings.desk_recording_audio_view,
        name="desk-recording-audio",
    ),
    path(
        "recordings/<int:pk>/tags/", recordings.desk_recording_tags_view, name="desk-recording-tags"
    ),
    path("recordings/", recordings.recordings_view, name="desk-recordings"),
    path("contacts/<int:pk>/call/", phone.desk_contact_call_view, name="desk-contact-call"),
    path("phone/token/", phone.desk_phone_token_view, name="desk-phone-token"),
    path("phone/dial/", phone.desk_phone_dial_view, name="desk-phone-dial"),
    path("supervisor/", views.supervisor_view, name="desk-supervisor"),
    path(
        "supervisor/calls/<int:pk>/monitor/",
        views.supervisor_monitor_view,
        name="desk-supervisor-monitor",
    ),
    path("settings/calls/", views.desk_call_settings_view, name="desk-call-settings"),
    path(
        "supervisor/agents/<int:pk>/presence/",
        views.supervisor_presence_view,
        name="desk-supervisor-presence",
    ),
    path(
        "supervisor/interactions/<int:pk>/assign/",
        views.supervisor_assign_view,
        name="desk-supervisor-assign",
    ),
]
