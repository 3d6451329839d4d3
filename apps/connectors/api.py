"""The API's door for faxes and scanned letters (an integrator's scanning station, a fax server)."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.connectors.services import DOCUMENT_CHANNELS, document_receive
from apps.core.api import OrganizationScopedMixin
from apps.interactions.api import InteractionSerializer
from apps.interactions.models import Interaction


class DocumentSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=DOCUMENT_CHANNELS)
    file = serializers.FileField()
    sender = serializers.CharField(required=False, default="", help_text="Fax number.")
    sender_name = serializers.CharField(required=False, default="")
    contact = serializers.IntegerField(required=False, help_text="A known contact's id.")
    subject = serializers.CharField(required=False, default="")
    note = serializers.CharField(required=False, default="")
    queue = serializers.IntegerField(required=False, help_text="Else the routing rules decide.")


class DocumentView(OrganizationScopedMixin, APIView):
    """Register a received fax or a scanned letter (PDF or image): it becomes an inbound
    interaction routed like any other. Answers the interaction."""

    queryset = Interaction.objects.none()  # the role permission checked: add_interaction
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=DocumentSerializer, responses={201: InteractionSerializer})
    def post(self, request):
        from apps.contacts.models import Contact
        from apps.queues.models import Queue

        form = DocumentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        organization = request.organization
        related = {}
        for name, model in (("contact", Contact), ("queue", Queue)):
            if data.get(name) is not None:
                related[name] = model.objects.filter(
                    organization=organization, pk=data[name]
                ).first()
                if related[name] is None:
                    raise serializers.ValidationError({name: "Not found."})
        upload = data["file"]
        try:
            interaction = document_receive(
                organization=organization,
                channel=data["channel"],
                name=upload.name,
                data=upload.read(),
                sender=data["sender"],
                sender_name=data["sender_name"],
                subject=data["subject"],
                note=data["note"],
                actor=request.user,
                **related,
            )
        except ValidationError as exc:
            raise serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            ) from exc
        interaction.refresh_from_db()
        return Response(InteractionSerializer(interaction).data, status=status.HTTP_201_CREATED)
