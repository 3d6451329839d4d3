from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import ORGANIZATION_PERMISSIONS, OrganizationScopedMixin
from apps.notifications import selectors, services
from apps.notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "title", "body", "url", "level", "created_at", "read_at"]
        read_only_fields = fields


class NotificationViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own notifications."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()  # for the schema and permissions; see get_queryset
    filterset_fields = {"read_at": ["isnull"], "level": ["exact"]}

    def get_queryset(self):
        return selectors.notification_list(user=self.request.user)

    @extend_schema(request=None, responses=NotificationSerializer)
    # Marking one's own notification read needs no model permission beyond reading it.
    @action(detail=True, methods=["post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def read(self, request, pk=None):
        notification = self.get_object()
        services.notification_mark_read(notification=notification)
        return Response(self.get_serializer(notification).data)
