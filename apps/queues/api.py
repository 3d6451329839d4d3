from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import ORGANIZATION_PERMISSIONS, OrganizationScopedMixin
from apps.queues import selectors, services
from apps.queues.models import (
    BusinessHours,
    Callback,
    Offer,
    Presence,
    PresenceStatus,
    Queue,
    QueueMember,
    ReasonCode,
    RoutingRule,
    RoutingTarget,
    Skill,
)

User = get_user_model()


def of_organization(model, organization, pk, field):
    """A row of the caller's organization by id, or a 400 naming the field (never another's)."""
    if pk is None:
        return None
    row = model.objects.filter(organization=organization, pk=pk).first()
    if row is None:
        raise serializers.ValidationError({field: "Not found."})
    return row


class QueueSerializer(serializers.ModelSerializer):
    # Written as ids, read back by to_representation.
    members = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        write_only=True,
        help_text="Agent ids, in hunt order.",
    )
    overflow_queue = serializers.IntegerField(required=False, allow_null=True, write_only=True)
    business_hours = serializers.IntegerField(required=False, allow_null=True, write_only=True)

    class Meta:
        model = Queue
        fields = [
            "id",
            "name",
            "description",
            "is_active",
            "strategy",
            "base_priority",
            "sla_seconds",
            "sla_target_percent",
            "offer_timeout_seconds",
            "wrap_up_seconds",
            "max_wait_seconds",
            "overflow_queue",
            "business_hours",
            "when_closed",
            "preferred_agent_seconds",
            "relax_skills_after_seconds",
            "no_reply_requeue_minutes",
            "members",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["members"] = [m.agent_id for m in instance.memberships.all()]
        data["overflow_queue"] = instance.overflow_queue_id
        data["business_hours"] = instance.business_hours_id
        return data

    def validate(self, attrs):
        organization = self.context["request"].organization
        if "overflow_queue" in attrs:
            attrs["overflow_queue"] = of_organization(
                Queue, organization, attrs["overflow_queue"], "overflow_queue"
            )
        if "business_hours" in attrs:
            attrs["business_hours"] = of_organization(
                BusinessHours, organization, attrs["business_hours"], "business_hours"
            )
        if "members" in attrs:
            agents = {
                u.pk: u
                for u in User.objects.filter(organization=organization, pk__in=attrs["members"])
            }
            if len(agents) != len(set(attrs["members"])):
                raise serializers.ValidationError({"members": "Unknown agent."})
            attrs["members"] = [agents[pk] for pk in attrs["members"]]
        name = attrs.get("name")
        clash = Queue.objects.filter(organization=organization, name=name)
        if self.instance:
            clash = clash.exclude(pk=self.instance.pk)
        if name and clash.exists():
            raise serializers.ValidationError({"name": "A queue with this name already exists."})
        return attrs


class QueueViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """Queues: strategy, SLA, timeouts, overflow, business hours and members."""

    queryset = Queue.objects.none()
    serializer_class = QueueSerializer

    def get_queryset(self):
        return selectors.queue_list(organization=self.request.organization).prefetch_related(
            "memberships"
        )

    @transaction.atomic
    def perform_create(self, serializer):
        members = serializer.validated_data.pop("members", None)
        queue = serializer.save(organization=self.request.organization)
        if members is not None:
            queue_set_members(queue=queue, agents=members)

    @transaction.atomic
    def perform_update(self, serializer):
        members = serializer.validated_data.pop("members", None)
        queue = serializer.save()
        if members is not None:
            queue_set_members(queue=queue, agents=members)

    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """Now: waiting, longest wait, ringing offers, agents by status, today's SLA."""
        return Response(selectors.queue_stats(queue=self.get_object()))


def queue_set_members(*, queue: Queue, agents: list) -> None:
    QueueMember.objects.filter(queue=queue).exclude(agent__in=agents).delete()
    for order, agent in enumerate(agents):
        QueueMember.objects.update_or_create(
            queue=queue, agent=agent, defaults={"order": order, "organization": queue.organization}
        )


class SkillSerializer(serializers.ModelSerializer):
    class Meta:
        model = Skill
        fields = ["id", "name"]


class SkillViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    queryset = Skill.objects.none()
    serializer_class = SkillSerializer

    def get_queryset(self):
        return Skill.objects.for_organization(self.request.organization)

    def perform_create(self, serializer):
        serializer.save(organization=self.request.organization)


class ReasonCodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReasonCode
        fields = ["id", "status", "name", "is_active"]


class ReasonCodeViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """Why agents are not available (chosen with a status)."""

    queryset = ReasonCode.objects.none()
    serializer_class = ReasonCodeSerializer

    def get_queryset(self):
        return ReasonCode.objects.for_organization(self.request.organization)

    def perform_create(self, serializer):
        serializer.save(organization=self.request.organization)


class PresenceSerializer(serializers.ModelSerializer):
    reason = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Presence
        fields = ["agent", "status", "reason", "since", "idle_since"]
        read_only_fields = fields


class PresenceChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PresenceStatus.choices)
    reason = serializers.IntegerField(required=False, allow_null=True)


def _presence_change(request, agent) -> Presence:
    serializer = PresenceChangeSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    reason = of_organization(
        ReasonCode, request.organization, serializer.validated_data.get("reason"), "reason"
    )
    return services.presence_set(
        agent=agent, status=serializer.validated_data["status"], reason=reason, actor=request.user
    )


class PresenceViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Agents' presence (by agent id); supervisors change it with ``POST …/{agent}/set/``."""

    queryset = Presence.objects.none()
    serializer_class = PresenceSerializer
    lookup_field = "agent"
    filterset_fields = ["status"]

    def get_queryset(self):
        return Presence.objects.for_organization(self.request.organization).select_related("reason")

    @extend_schema(request=PresenceChangeSerializer, responses=PresenceSerializer)
    @action(
        detail=True, methods=["post"], url_path="set", permission_classes=ORGANIZATION_PERMISSIONS
    )
    def set_status(self, request, agent=None):
        presence = self.get_object()
        if not request.user.has_perm("queues.change_presence"):
            self.permission_denied(request, message="Changing others' status is for supervisors.")
        return Response(PresenceSerializer(_presence_change(request, presence.agent)).data)

    @extend_schema(request=PresenceChangeSerializer, responses=PresenceSerializer)
    @action(detail=False, methods=["get", "post"], permission_classes=ORGANIZATION_PERMISSIONS)
    def me(self, request):
        """The caller's own status (every agent may set theirs)."""
        if request.user.pk is None:
            return Response({"detail": "An API key has no presence."}, status=404)
        if request.method == "POST":
            return Response(PresenceSerializer(_presence_change(request, request.user)).data)
        return Response(PresenceSerializer(services.presence_get(agent=request.user)).data)


class OfferSerializer(serializers.ModelSerializer):
    class Meta:
        model = Offer
        fields = [
            "id",
            "interaction",
            "agent",
            "queue",
            "status",
            "created_at",
            "expires_at",
            "why",
        ]
        read_only_fields = fields


class OfferViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's offers; an agent accepts or declines their own."""

    queryset = Offer.objects.none()
    serializer_class = OfferSerializer
    permission_classes = ORGANIZATION_PERMISSIONS
    filterset_fields = ["status"]

    def get_queryset(self):
        offers = Offer.objects.for_organization(self.request.organization)
        if self.request.user.has_perm("queues.view_offer"):
            return offers  # supervisors see every offer and its why
        return offers.filter(agent_id=self.request.user.pk)

    @extend_schema(request=None, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return Response(
            OfferSerializer(services.offer_accept(offer=self.get_object(), agent=request.user)).data
        )

    @extend_schema(request=None, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return Response(
            OfferSerializer(services.offer_reject(offer=self.get_object(), agent=request.user)).data
        )


class CallbackSerializer(serializers.ModelSerializer):
    # Written as ids, read back by to_representation.
    contact = serializers.IntegerField(write_only=True)
    queue = serializers.IntegerField(write_only=True)
    origin = serializers.IntegerField(required=False, allow_null=True, write_only=True)
    keep_place = serializers.BooleanField(required=False, default=False, write_only=True)

    class Meta:
        model = Callback
        fields = [
            "id",
            "contact",
            "queue",
            "number",
            "scheduled_for",
            "origin",
            "keep_place",
            "keep_place_since",
            "status",
            "interaction",
        ]
        read_only_fields = ["id", "keep_place_since", "status", "interaction"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data.update(contact=instance.contact_id, queue=instance.queue_id, origin=instance.origin_id)
        return data


class CallbackViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Scheduled callbacks; ``keep_place`` with an ``origin`` keeps that position in line."""

    queryset = Callback.objects.none()
    serializer_class = CallbackSerializer
    filterset_fields = ["status", "queue"]

    def get_queryset(self):
        return Callback.objects.for_organization(self.request.organization)

    def perform_create(self, serializer):
        from apps.contacts.models import Contact
        from apps.interactions.models import Interaction

        data = serializer.validated_data
        organization = self.request.organization
        serializer.instance = services.callback_schedule(
            queue=of_organization(Queue, organization, data["queue"], "queue"),
            contact=of_organization(Contact, organization, data["contact"], "contact"),
            number=data["number"],
            scheduled_for=data["scheduled_for"],
            origin=of_organization(Interaction, organization, data.get("origin"), "origin"),
            keep_place=data.get("keep_place", False),
            actor=self.request.user,
        )


class RoutingTargetSerializer(serializers.Serializer):
    queue = serializers.IntegerField()
    priority = serializers.IntegerField(required=False, default=0)
    timeout_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class RoutingRuleSerializer(serializers.ModelSerializer):
    targets = RoutingTargetSerializer(many=True, write_only=True, help_text="Tried in this order.")

    class Meta:
        model = RoutingRule
        fields = [
            "id",
            "name",
            "order",
            "is_active",
            "channels",
            "tiers",
            "languages",
            "reasons",
            "contact_field",
            "contact_value",
            "targets",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["targets"] = [
            {"queue": t.queue_id, "priority": t.priority, "timeout_seconds": t.timeout_seconds}
            for t in instance.targets.all()
        ]
        return data

    def validate_targets(self, targets):
        if not targets:
            raise serializers.ValidationError("A rule needs at least one target.")
        organization = self.context["request"].organization
        for target in targets:
            target["queue"] = of_organization(Queue, organization, target["queue"], "targets")
        return targets

    def validate(self, attrs):
        for name in ("channels", "tiers", "languages", "reasons"):
            value = attrs.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise serializers.ValidationError({name: "A list of strings."})
        return attrs


class RoutingRuleViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """Ordered filters: the first active matching rule sends the interaction to its targets."""

    queryset = RoutingRule.objects.none()
    serializer_class = RoutingRuleSerializer

    def get_queryset(self):
        return RoutingRule.objects.for_organization(self.request.organization).prefetch_related(
            "targets"
        )

    @transaction.atomic
    def perform_create(self, serializer):
        targets = serializer.validated_data.pop("targets")
        rule = serializer.save(organization=self.request.organization)
        _set_targets(rule, targets)

    @transaction.atomic
    def perform_update(self, serializer):
        targets = serializer.validated_data.pop("targets", None)
        rule = serializer.save()
        if targets is not None:
            _set_targets(rule, targets)


def _set_targets(rule: RoutingRule, targets: list[dict]) -> None:
    RoutingTarget.objects.filter(rule=rule).delete()
    RoutingTarget.objects.bulk_create(
        RoutingTarget(rule=rule, order=i, **target) for i, target in enumerate(targets)
    )
