from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, serializers, viewsets
from rest_framework.response import Response

from apps.accounts import selectors, services
from apps.accounts.models import Organization, Role, Team, User
from apps.core.api import ORGANIZATION_PERMISSIONS, OrganizationScopedMixin


class AgentProfileSerializer(serializers.Serializer):
    extension = serializers.CharField(read_only=True)
    languages = serializers.ListField(child=serializers.CharField(), read_only=True)
    capacity = serializers.DictField(child=serializers.IntegerField(), read_only=True)


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), write_only=True, required=False
    )
    role_names = serializers.SerializerMethodField()
    agent_profile = AgentProfileSerializer(read_only=True)
    password = serializers.CharField(
        write_only=True, required=False, style={"input_type": "password"}
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "email",
            "language",
            "time_zone",
            "is_active",
            "roles",
            "role_names",
            "agent_profile",
            "password",
        ]
        read_only_fields = ["id", "is_active"]

    def get_role_names(self, obj) -> list[str]:
        return sorted(obj.role_names)


class UserViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """People of the organization. Creating an agent takes a seat of the plan."""

    serializer_class = UserSerializer
    queryset = User.objects.none()
    filterset_fields = ["is_active", "groups__name"]

    def get_queryset(self):
        return selectors.user_list(organization=self.request.organization)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.user_create(
            organization=self.request.organization,
            roles=data.pop("roles", []),
            password=data.pop("password", None),
            actor=self.request.user,
            **data,
        )


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "members", "supervisors", "created_at"]
        read_only_fields = ["id", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        organization = getattr(request, "organization", None)
        for name in ("members", "supervisors"):
            # Only people of the caller's organization can be named: others do not exist here.
            self.fields[name].child_relation.queryset = User.objects.filter(
                organization=organization
            )

    def validate_name(self, value):
        organization = self.context["request"].organization
        clash = Team.objects.for_organization(organization).filter(name=value)
        if self.instance:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A team with this name already exists.")
        return value


class TeamViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    serializer_class = TeamSerializer
    queryset = Team.objects.none()

    def get_queryset(self):
        return selectors.team_list(organization=self.request.organization)

    @transaction.atomic
    def perform_create(self, serializer):
        serializer.save(organization=self.request.organization)


class OrganizationSerializer(serializers.ModelSerializer):
    plan = serializers.SerializerMethodField()
    features = serializers.SerializerMethodField()
    agent_seats = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "time_zone", "language", "plan", "features", "agent_seats"]

    def _entitlements(self, obj):
        return selectors.organization_entitlements(organization=obj)

    def get_plan(self, obj) -> str:
        return self._entitlements(obj).plan_name

    def get_features(self, obj) -> dict[str, int | None]:
        return self._entitlements(obj).features

    def get_agent_seats(self, obj) -> dict[str, int | None]:
        return {
            "limit": self._entitlements(obj).agent_seats,
            "used": selectors.organization_agent_seats_used(organization=obj),
        }


class OrganizationView(OrganizationScopedMixin, generics.GenericAPIView):
    """The caller's organization with its plan, features and seats."""

    permission_classes = ORGANIZATION_PERMISSIONS
    serializer_class = OrganizationSerializer

    def get(self, request):
        return Response(self.get_serializer(request.organization).data)


class MeView(OrganizationScopedMixin, generics.GenericAPIView):
    """The signed-in user (not available to API keys: they are nobody)."""

    permission_classes = ORGANIZATION_PERMISSIONS
    serializer_class = UserSerializer

    @extend_schema(responses=UserSerializer)
    def get(self, request):
        if request.user.pk is None:
            return Response({"detail": "An API key is not a user."}, status=404)
        return Response(self.get_serializer(request.user).data)
