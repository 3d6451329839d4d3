import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import ORGANIZATION_PERMISSIONS, OrganizationScopedMixin
from apps.interactions import selectors, services
from apps.interactions.models import (
    Channel,
    Direction,
    Disposition,
    Interaction,
    InteractionNote,
    Message,
    State,
)
from apps.queues import selectors as queue_selectors
from apps.queues import services as queue_services
from apps.queues.api import OfferSerializer, of_organization
from apps.queues.models import Queue


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.StringRelatedField()

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "author_kind",
            "author",
            "body",
            "content",
            "provider_id",
            "delivery_status",
            "created_at",
        ]
        read_only_fields = fields


class InteractionNoteSerializer(serializers.ModelSerializer):
    author = serializers.StringRelatedField()

    class Meta:
        model = InteractionNote
        fields = ["id", "body", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class InteractionSerializer(serializers.ModelSerializer):
    disposition = serializers.SlugRelatedField(slug_field="code", read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Interaction
        fields = [
            "id",
            "channel",
            "direction",
            "state",
            "contact",
            "identity",
            "queue",
            "assigned_agent",
            "campaign",
            "flow",
            "continues",
            "subject",
            "reason",
            "priority",
            "language",
            "provider_ref",
            "disposition",
            "wrap_up_notes",
            "tags",
            "data",
            "created_at",
            "queued_at",
            "answered_at",
            "ended_at",
            "closed_at",
        ]
        read_only_fields = fields


class TimelineInteractionSerializer(InteractionSerializer):
    messages = MessageSerializer(many=True, read_only=True)
    notes = InteractionNoteSerializer(many=True, read_only=True)

    class Meta(InteractionSerializer.Meta):
        fields = [*InteractionSerializer.Meta.fields, "messages", "notes"]
        read_only_fields = fields


class InteractionCreateSerializer(serializers.Serializer):
    """Open an interaction for a contact (by id) or for an identity (found or created)."""

    channel = serializers.ChoiceField(choices=Channel.choices)
    direction = serializers.ChoiceField(choices=Direction.choices)
    contact = serializers.IntegerField(required=False)
    identity_kind = serializers.CharField(required=False)
    identity_value = serializers.CharField(required=False)
    name = serializers.CharField(required=False, allow_blank=True)
    queue = serializers.IntegerField(required=False)
    continues = serializers.IntegerField(required=False)
    subject = serializers.CharField(required=False, allow_blank=True, max_length=255)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=100)
    priority = serializers.IntegerField(required=False, default=0)
    provider_ref = serializers.CharField(required=False, allow_blank=True, max_length=255)
    first_message = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs):
        if not attrs.get("contact") and not (
            attrs.get("identity_kind") and attrs.get("identity_value")
        ):
            raise serializers.ValidationError(
                "Give a contact id, or identity_kind and identity_value."
            )
        return attrs


class TransitionSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=State.choices)


class CloseSerializer(serializers.Serializer):
    disposition = serializers.CharField(required=False, help_text="Disposition code")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class RoutingActionSerializer(serializers.Serializer):
    queue = serializers.IntegerField(required=False)
    agent = serializers.IntegerField(required=False)


class QueuePositionSerializer(serializers.Serializer):
    position = serializers.IntegerField(allow_null=True)
    estimated_wait_seconds = serializers.IntegerField(allow_null=True)


class NewMessageSerializer(serializers.Serializer):
    body = serializers.CharField()


class ScreenPopSerializer(serializers.Serializer):
    interaction = InteractionSerializer()
    contact = serializers.SerializerMethodField()
    custom_fields = serializers.SerializerMethodField()
    open_interactions = InteractionSerializer(many=True)
    recent_interactions = TimelineInteractionSerializer(many=True)
    contact_notes = serializers.SerializerMethodField()
    consents = serializers.DictField(child=serializers.CharField())

    def get_contact(self, pop) -> dict:
        from apps.contacts.api import ContactSerializer

        return ContactSerializer(pop.contact).data

    def get_custom_fields(self, pop) -> list[dict]:
        return [{"label": label, "value": value} for label, value in pop.custom_fields]

    def get_contact_notes(self, pop) -> list[dict]:
        return [
            {"body": n.body, "author": str(n.author or ""), "created_at": n.created_at}
            for n in pop.contact_notes
        ]


class InteractionFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    agent = django_filters.NumberFilter(field_name="assigned_agent")

    class Meta:
        model = Interaction
        fields = ["channel", "state", "direction", "queue", "contact", "campaign"]


class InteractionViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Interactions of every channel. Filters: channel, state, direction, queue, agent,
    contact, campaign, created_after/created_before (ISO 8601)."""

    queryset = Interaction.objects.none()
    serializer_class = InteractionSerializer
    filterset_class = InteractionFilter

    def get_queryset(self):
        return selectors.interaction_list(organization=self.request.organization).prefetch_related(
            "tags"
        )

    def _related(self, model, pk):
        """A row of the caller's organization, or a 400 naming the field."""
        if pk is None:
            return None
        row = model.objects.filter(organization=self.request.organization, pk=pk).first()
        if row is None:
            raise serializers.ValidationError({model._meta.model_name: "Not found."})
        return row

    @extend_schema(request=InteractionCreateSerializer, responses={201: InteractionSerializer})
    def create(self, request):
        from apps.contacts.models import Contact
        from apps.contacts.services import contact_resolve
        from apps.queues.models import Queue

        if not request.user.has_perm("interactions.add_interaction"):
            self.permission_denied(request)
        serializer = InteractionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        identity = None
        if data.get("contact"):
            contact = self._related(Contact, data["contact"])
        else:
            contact, identity, _created = contact_resolve(
                organization=request.organization,
                kind=data["identity_kind"],
                value=data["identity_value"],
                hints={"name": data.get("name", "")},
            )
        interaction = services.interaction_create(
            organization=request.organization,
            channel=data["channel"],
            direction=data["direction"],
            contact=contact,
            identity=identity,
            queue=self._related(Queue, data.get("queue")),
            continues=self._related(Interaction, data.get("continues")),
            subject=data.get("subject", ""),
            reason=data.get("reason", ""),
            priority=data.get("priority", 0),
            provider_ref=data.get("provider_ref", ""),
            actor=request.user,
        )
        if data.get("first_message"):
            services.message_add(
                interaction=interaction,
                direction=data["direction"],
                author_kind=Message.Author.CONTACT
                if data["direction"] == Direction.INBOUND
                else Message.Author.AGENT,
                author=request.user if data["direction"] == Direction.OUTBOUND else None,
                body=data["first_message"],
            )
        return Response(InteractionSerializer(interaction).data, status=status.HTTP_201_CREATED)

    def _changeable(self) -> Interaction:
        interaction = self.get_object()
        if not self.request.user.has_perm("interactions.change_interaction"):
            self.permission_denied(self.request)
        return interaction

    @extend_schema(request=TransitionSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def transition(self, request, pk=None):
        interaction = self._changeable()
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.interaction_transition(
            interaction=interaction, to=serializer.validated_data["state"], actor=request.user
        )
        return Response(InteractionSerializer(interaction).data)

    @extend_schema(request=CloseSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def close(self, request, pk=None):
        interaction = self._changeable()
        serializer = CloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        code = serializer.validated_data.get("disposition")
        disposition = None
        if code:
            disposition = Disposition.objects.filter(
                organization=request.organization, code=code, is_active=True
            ).first()
            if disposition is None:
                raise serializers.ValidationError({"disposition": "Unknown disposition code."})
        services.interaction_close(
            interaction=interaction,
            actor=request.user,
            disposition=disposition,
            notes=serializer.validated_data["notes"],
        )
        return Response(InteractionSerializer(interaction).data)

    @extend_schema(request=NewMessageSerializer, responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get", "post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def messages(self, request, pk=None):
        """The conversation; POST records an agent's outbound message."""
        interaction = self.get_object()
        if request.method == "POST":
            interaction = self._changeable()
            serializer = NewMessageSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            message, _created = services.message_add(
                interaction=interaction,
                direction=Direction.OUTBOUND,
                author_kind=Message.Author.AGENT,
                author=request.user,
                body=serializer.validated_data["body"],
            )
            return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
        messages = interaction.messages.select_related("author")
        return Response(MessageSerializer(messages, many=True).data)

    @extend_schema(request=NewMessageSerializer, responses=InteractionNoteSerializer(many=True))
    @action(detail=True, methods=["get", "post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def notes(self, request, pk=None):
        """Internal notes (never shown to the customer)."""
        interaction = self.get_object()
        if request.method == "POST":
            serializer = NewMessageSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            note = services.interaction_note_add(
                interaction=interaction, body=serializer.validated_data["body"], author=request.user
            )
            return Response(InteractionNoteSerializer(note).data, status=status.HTTP_201_CREATED)
        notes = interaction.notes.select_related("author")
        return Response(InteractionNoteSerializer(notes, many=True).data)

    @extend_schema(responses=ScreenPopSerializer)
    @action(detail=True, methods=["get"], url_path="screen-pop")
    def screen_pop(self, request, pk=None):
        """What the agent sees when the interaction is offered: contact, history, notes."""
        return Response(
            ScreenPopSerializer(selectors.screen_pop(interaction=self.get_object())).data
        )

    # --- Routing (the queues app's services) ---------------------------------------------

    def _queue_from(self, request) -> Queue:
        queue = of_organization(Queue, request.organization, request.data.get("queue"), "queue")
        if queue is None:
            raise serializers.ValidationError({"queue": "This field is required."})
        return queue

    def _supervising(self, request) -> Interaction:
        interaction = self.get_object()
        if not request.user.has_perm("interactions.supervise_interaction"):
            self.permission_denied(request, message="Assigning and moving are for supervisors.")
        return interaction

    @extend_schema(request=RoutingActionSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def enqueue(self, request, pk=None):
        """Put the interaction in a queue (``queue``), or where the first matching routing rule
        sends it (no ``queue``): it is offered at once if someone can take it."""
        interaction = self._changeable()
        if request.data.get("queue") is None:
            rule = queue_services.interaction_route_by_rules(
                interaction=interaction, actor=request.user
            )
            if rule is None:
                raise serializers.ValidationError(
                    {"queue": "No queue given and no routing rule matches."}
                )
        else:
            queue_services.interaction_enqueue(
                interaction=interaction, queue=self._queue_from(request), actor=request.user
            )
        interaction.refresh_from_db()
        return Response(InteractionSerializer(interaction).data)

    @extend_schema(request=RoutingActionSerializer, responses=OfferSerializer)
    @action(detail=True, methods=["post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def assign(self, request, pk=None):
        """Supervisors: offer a waiting interaction to a chosen agent."""
        interaction = self._supervising(request)
        agent = of_organization(
            get_user_model(), request.organization, request.data.get("agent"), "agent"
        )
        if agent is None:
            raise serializers.ValidationError({"agent": "This field is required."})
        offer = queue_services.interaction_force_assign(
            interaction=interaction, agent=agent, actor=request.user
        )
        return Response(OfferSerializer(offer).data)

    @extend_schema(request=RoutingActionSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def move(self, request, pk=None):
        """Supervisors: move a waiting interaction to another queue (it keeps its place)."""
        interaction = self._supervising(request)
        queue_services.interaction_move(
            interaction=interaction, queue=self._queue_from(request), actor=request.user
        )
        interaction.refresh_from_db()
        return Response(InteractionSerializer(interaction).data)

    @extend_schema(responses=QueuePositionSerializer)
    @action(detail=True, methods=["get"], url_path="queue-position")
    def queue_position(self, request, pk=None):
        """Place in line and estimated wait, for every channel (chat widget, IVR, SMS)."""
        interaction = self.get_object()
        return Response(
            {
                "position": queue_selectors.queue_position(interaction=interaction),
                "estimated_wait_seconds": queue_selectors.estimated_wait_seconds(
                    interaction=interaction
                ),
            }
        )


class DispositionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Disposition
        fields = ["id", "code", "name", "outcome", "requires_note", "is_active", "order"]

    def validate_code(self, value):
        organization = self.context["request"].organization
        clash = Disposition.objects.filter(organization=organization, code=value)
        if self.instance:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A disposition with this code already exists.")
        return value


class DispositionViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """Wrap-up outcomes agents choose from; deactivate rather than delete used ones."""

    queryset = Disposition.objects.none()
    serializer_class = DispositionSerializer
    filterset_fields = ["is_active", "outcome"]

    def get_queryset(self):
        return Disposition.objects.for_organization(self.request.organization)

    def perform_create(self, serializer):
        serializer.save(organization=self.request.organization)
