from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from apps.accounts import api as accounts_api
from apps.accounts import views as accounts_views
from apps.connectors import api as connectors_api
from apps.connectors.views import voicemail_audio_view
from apps.contacts import api as contacts_api
from apps.core.api import ORGANIZATION_PERMISSIONS
from apps.integrations import api as integrations_api
from apps.interactions import api as interactions_api
from apps.notifications import api as notifications_api
from apps.queues import api as queues_api
from apps.reports import api as reports_api

router = DefaultRouter()
router.register("users", accounts_api.UserViewSet, basename="user")
router.register("teams", accounts_api.TeamViewSet, basename="team")
router.register("notifications", notifications_api.NotificationViewSet, basename="notification")
router.register("contacts", contacts_api.ContactViewSet, basename="contact")
router.register("interactions", interactions_api.InteractionViewSet, basename="interaction")
router.register("dispositions", interactions_api.DispositionViewSet, basename="disposition")
router.register("queues", queues_api.QueueViewSet, basename="queue")
router.register("skills", queues_api.SkillViewSet, basename="skill")
router.register("reason-codes", queues_api.ReasonCodeViewSet, basename="reason-code")
router.register("presence", queues_api.PresenceViewSet, basename="presence")
router.register("offers", queues_api.OfferViewSet, basename="offer")
router.register("callbacks", queues_api.CallbackViewSet, basename="callback")
router.register("routing-rules", queues_api.RoutingRuleViewSet, basename="routing-rule")
router.register("webhooks", integrations_api.WebhookEndpointViewSet, basename="webhook")
router.register(
    "webhook-deliveries", integrations_api.WebhookDeliveryViewSet, basename="webhook-delivery"
)

api_urlpatterns = [
    path("me/", accounts_api.MeView.as_view(), name="me"),
    path("organization/", accounts_api.OrganizationView.as_view(), name="organization"),
    path("documents/", connectors_api.DocumentView.as_view(), name="document-create"),
    path(
        "crm/contacts/<str:external_id>/",
        contacts_api.CrmContactUpsertView.as_view(),
        name="crm-contact-upsert",
    ),
    path("reports/", reports_api.ReportView.as_view(), name="reports"),
    path("reports/kpis/", reports_api.KpiDefinitionsView.as_view(), name="reports-kpis"),
    path(
        "reports/interactions/",
        reports_api.InteractionExportView.as_view(),
        name="reports-interactions",
    ),
    path("reports/drilldown/", reports_api.DrillDownView.as_view(), name="reports-drilldown"),
    *router.urls,
]

handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", accounts_views.home_view, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/preferences/", accounts_views.preferences_view, name="preferences"),
    path("notifications/", include("apps.notifications.urls")),
    path("desk/", include("apps.desk.urls")),
    path("reports/", include("apps.reports.urls")),
    path("hooks/", include("apps.connectors.urls")),
    path("hooks/anymail/", include("anymail.urls")),  # ESP inbound e-mail (basic auth)
    path("widget/", include("apps.connectors.webchat_urls")),
    path("voice/simulator/", include("apps.voicesim.urls")),
    path("voice/voicemail/<str:token>/", voicemail_audio_view, name="voicemail-audio"),
    path("admin/", admin.site.urls),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=ORGANIZATION_PERMISSIONS),
        name="api-schema",
    ),
    path("api/docs/", accounts_views.api_docs_view, name="api-docs"),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/v1/", include((api_urlpatterns, "api"))),
]

admin.site.site_header = "Contact center administration"
admin.site.site_title = "Contact center"
