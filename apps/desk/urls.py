from django.urls import path

from apps.desk import views

urlpatterns = [
    path("", views.desk_view, name="desk"),
    path("presence/", views.desk_presence_view, name="desk-presence"),
    path("offers/<int:pk>/accept/", views.desk_offer_accept_view, name="desk-offer-accept"),
    path("offers/<int:pk>/reject/", views.desk_offer_reject_view, name="desk-offer-reject"),
    path("interactions/<int:pk>/", views.desk_interaction_view, name="desk-interaction"),
    path("interactions/<int:pk>/reply/", views.desk_reply_view, name="desk-reply"),
    path("interactions/<int:pk>/close/", views.desk_close_view, name="desk-close"),
    path("interactions/<int:pk>/transfer/", views.desk_transfer_view, name="desk-transfer"),
    path("supervisor/", views.supervisor_view, name="desk-supervisor"),
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
