import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import ORGANIZATION_PERMISSIONS, OrganizationScopedMixin
from apps.integrations import selectors, services
from apps.integrations.models import WebhookDelivery, WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="Event types to receive, e.g. contact.created; empty: every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "is_active",
            "secret",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "secret", "created_by", "created_at", "updated_at"]


class WebhookEndpointViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """URLs that receive the organization's events as signed POSTs (the secret signs them)."""

    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.none()  # for the schema and permissions; see get_queryset
    filterset_fields = ["is_active"]

    def get_queryset(self):
        return selectors.webhook_endpoint_list(organization=self.request.organization)

    def perform_create(self, serializer):
        user = self.request.user
        serializer.instance = services.webhook_endpoint_create(
            organization=self.request.organization,
            created_by=user if user.pk else None,  # an API key is nobody
            **serializer.validated_data,
        )

    def perform_update(self, serializer):
        serializer.instance = services.webhook_endpoint_update(
            endpoint=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.webhook_endpoint_delete(endpoint=instance)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "payload",
        ]
        read_only_fields = fields


class WebhookDeliveryFilter(django_filters.FilterSet):
    # By id, not a model choice: another organization's endpoint id must not validate.
    endpoint = django_filters.NumberFilter(field_name="endpoint_id")

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event_type", "endpoint", "event_id"]


class CanRetryDeliveries(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("integrations.change_webhookdelivery")


class WebhookDeliveryViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The delivery log: every event sent (or being sent) to the organization's endpoints."""

    serializer_class = WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.none()  # for the schema and permissions
    filterset_class = WebhookDeliveryFilter

    def get_queryset(self):
        return selectors.webhook_delivery_list(organization=self.request.organization)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[*ORGANIZATION_PERMISSIONS, CanRetryDeliveries],
    )
    def retry(self, request, pk=None):
        """Send the delivery again now (whatever its status); 400 while an attempt runs."""
        delivery = services.webhook_delivery_retry(delivery=self.get_object())
        delivery.refresh_from_db()
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)
