from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.contacts import exports, imports, selectors, services
from apps.contacts.models import (
    Consent,
    ConsentChannel,
    Contact,
    ContactNote,
    Identity,
    IdentityKind,
    Tier,
)
from apps.core.api import ORGANIZATION_PERMISSIONS, OrganizationScopedMixin, RolePermissions
from apps.interactions.api import TimelineInteractionSerializer
from apps.interactions.selectors import contact_timeline


class IdentitySerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)

    class Meta:
        model = Identity
        fields = ["id", "kind", "value", "label", "is_primary", "verified"]
        read_only_fields = ["id", "verified"]


class ContactSerializer(serializers.ModelSerializer):
    identities = IdentitySerializer(many=True, required=False)
    # Written as names; read back by to_representation.
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, write_only=True
    )
    company = serializers.CharField(required=False, allow_blank=True, write_only=True)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    custom_fields = serializers.DictField(required=False)

    class Meta:
        model = Contact
        fields = [
            "id",
            "first_name",
            "last_name",
            "company",
            "tier",
            "language",
            "time_zone",
            "custom_fields",
            "tags",
            "external_id",
            "do_not_contact",
            "identities",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["company"] = instance.company.name if instance.company_id else ""
        data["tags"] = [t.name for t in instance.tags.all()]
        return data


class ContactUpdateSerializer(ContactSerializer):
    class Meta(ContactSerializer.Meta):
        read_only_fields = [*ContactSerializer.Meta.read_only_fields, "identities"]


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.StringRelatedField()

    class Meta:
        model = ContactNote
        fields = ["id", "body", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class ConsentSerializer(serializers.ModelSerializer):
    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    status = serializers.ChoiceField(choices=Consent.Status.choices)
    source = serializers.ChoiceField(choices=Consent.Source.choices, default=Consent.Source.API)

    class Meta:
        model = Consent
        fields = ["id", "channel", "status", "source", "note", "recorded_at"]
        read_only_fields = ["id", "recorded_at"]


class MergeSerializer(serializers.Serializer):
    other = serializers.IntegerField(help_text="Id of the contact merged into this one.")


class DuplicateSerializer(serializers.Serializer):
    contact = ContactSerializer()
    reasons = serializers.ListField(child=serializers.CharField())


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV with a header row (columns: see the README).")
    dry_run = serializers.BooleanField(default=True, help_text="Check and report, write nothing.")
    skip_invalid = serializers.BooleanField(
        default=False, help_text="Write the valid rows even when others are invalid."
    )


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True, help_text="Spreadsheet row (header = 1); null for the whole file."
    )
    field = serializers.CharField(help_text="The column, or empty for the whole row.")
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    total = serializers.IntegerField()
    valid = serializers.IntegerField()
    invalid = serializers.IntegerField()
    created = serializers.IntegerField()
    skipped = serializers.IntegerField()
    written = serializers.BooleanField()
    errors = ImportErrorSerializer(many=True)


class ImportRefusedSerializer(ImportReportSerializer):
    detail = serializers.CharField()


class ContactViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Customers with their identities. ``?q=`` searches name, phone in any format, e-mail."""

    queryset = Contact.objects.none()
    serializer_class = ContactSerializer
    filterset_fields = ["tier", "do_not_contact"]

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return ContactUpdateSerializer
        return super().get_serializer_class()

    def get_queryset(self):
        q = self.request.query_params.get("q", "")
        return selectors.contact_search(organization=self.request.organization, q=q)

    @extend_schema(parameters=[OpenApiParameter("q", str, description="Search text")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.contact_create(
            organization=self.request.organization,
            identities=[dict(i) for i in data.pop("identities", [])],
            company_name=data.pop("company", ""),
            actor=self.request.user,
            **data,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("identities", None)
        serializer.instance = services.contact_update(
            contact=serializer.instance,
            actor=self.request.user,
            company_name=data.pop("company", None),
            custom_fields=data.pop("custom_fields", None),
            tags=data.pop("tags", None),
            **data,
        )

    @extend_schema(responses=TimelineInteractionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        """Every interaction of the contact on every channel, newest first, with messages."""
        page = self.paginate_queryset(contact_timeline(contact=self.get_object()))
        return self.get_paginated_response(TimelineInteractionSerializer(page, many=True).data)

    @extend_schema(request=IdentitySerializer, responses=IdentitySerializer)
    @action(detail=True, methods=["post"], permission_classes=[*ORGANIZATION_PERMISSIONS])
    def identities(self, request, pk=None):
        contact = self._editable()
        serializer = IdentitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        identity = services.identity_add(
            contact=contact, actor=request.user, **serializer.validated_data
        )
        return Response(IdentitySerializer(identity).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=NoteSerializer, responses=NoteSerializer(many=True))
    @action(detail=True, methods=["get", "post"], permission_classes=[*ORGANIZATION_PERMISSIONS])
    def notes(self, request, pk=None):
        contact = self.get_object()
        if request.method == "POST":
            serializer = NoteSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            note = services.contact_note_add(
                contact=contact, body=serializer.validated_data["body"], author=request.user
            )
            return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
        notes = contact.notes.select_related("author")
        page = self.paginate_queryset(notes)
        return self.get_paginated_response(NoteSerializer(page, many=True).data)

    @extend_schema(request=ConsentSerializer, responses=ConsentSerializer(many=True))
    @action(detail=True, methods=["get", "post"], permission_classes=[*ORGANIZATION_PERMISSIONS])
    def consents(self, request, pk=None):
        contact = self.get_object()
        if request.method == "POST":
            serializer = ConsentSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            consent = services.consent_record(
                contact=contact, actor=request.user, **serializer.validated_data
            )
            return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)
        return Response(ConsentSerializer(contact.consents.all(), many=True).data)

    @extend_schema(responses=DuplicateSerializer(many=True))
    @action(detail=True, methods=["get"])
    def duplicates(self, request, pk=None):
        suggestions = selectors.contact_duplicates(contact=self.get_object())
        return Response(DuplicateSerializer(suggestions, many=True).data)

    @extend_schema(request=MergeSerializer, responses=ContactSerializer)
    @action(detail=True, methods=["post"], permission_classes=[*ORGANIZATION_PERMISSIONS])
    def merge(self, request, pk=None):
        """Merge another contact into this one (its identities, history and notes move here)."""
        winner = self._editable()
        if not request.user.has_perm("contacts.merge_contact"):
            self.permission_denied(request, message="Merging contacts is for supervisors.")
        serializer = MergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        loser = selectors.contact_get(
            organization=request.organization, contact_id=serializer.validated_data["other"]
        )
        contact = services.contact_merge(winner=winner, loser=loser, actor=request.user)
        return Response(ContactSerializer(contact).data)

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={
            200: ImportReportSerializer,
            400: OpenApiResponse(
                ImportRefusedSerializer, description="Invalid rows or file: nothing was written."
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_contacts(self, request):
        """Import contacts from a CSV file (a dry run by default); all rows or none are written
        unless ``skip_invalid``."""
        if not request.user.has_perms(["contacts.import_contact", "contacts.add_contact"]):
            self.permission_denied(request, message="Bulk import is for supervisors.")
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = imports.contacts_import(
            organization=request.organization,
            file=data["file"],
            dry_run=data["dry_run"],
            skip_invalid=data["skip_invalid"],
            actor=request.user,
        )
        body = report.as_dict()
        if report.dry_run or report.written:
            return Response(body)
        first = report.errors[0]
        column = f" ({first.field})" if first.field else ""
        where = f"Row {first.row}{column}: " if first.row else ""
        detail = f"Nothing was written. {where}{first.message}"
        return Response({"detail": detail, **body}, status=status.HTTP_400_BAD_REQUEST)

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Search text, as for the list"),
            OpenApiParameter("file_format", str, enum=exports.FORMATS, description="Default csv"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, exports.XLSX_TYPE): OpenApiTypes.BINARY,
        },
    )
    @action(detail=False, methods=["get"], url_path="export", url_name="export")
    def export(self, request):
        """The live contacts (filtered like the list) as a file, in the import's columns.

        ``?file_format=`` because DRF keeps ``?format=`` for choosing a renderer."""
        if not request.user.has_perm("contacts.export_contact"):
            self.permission_denied(request, message="Bulk export is for supervisors and managers.")
        fmt = request.query_params.get("file_format", "csv")
        if fmt not in exports.FORMATS:
            raise serializers.ValidationError(
                {"file_format": [f"Choose one of: {', '.join(exports.FORMATS)}."]}
            )
        export = exports.contacts_export(
            organization=request.organization,
            queryset=self.filter_queryset(self.get_queryset()),
            fmt=fmt,
        )
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

    def _editable(self) -> Contact:
        """The contact, when the caller may change contacts (else 403)."""
        contact = self.get_object()
        if not self.request.user.has_perm("contacts.change_contact"):
            self.permission_denied(self.request, message="You may not change contacts.")
        return contact


class CrmContactUpsertView(OrganizationScopedMixin, APIView):
    """``PUT /api/v1/crm/contacts/{external_id}/``: the external CRM creates or updates the
    contact it knows by that id (it is master for the fields it sends)."""

    permission_classes = [*ORGANIZATION_PERMISSIONS, RolePermissions]
    required_feature = "crm_sync"
    queryset = Contact.objects.none()

    @extend_schema(request=ContactSerializer, responses=ContactSerializer)
    @transaction.atomic
    def put(self, request, external_id: str):
        if not request.user.has_perms(["contacts.add_contact", "contacts.change_contact"]):
            self.permission_denied(request)
        serializer = ContactSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["identities"] = [dict(i) for i in data.get("identities", [])]
        contact, created = services.contact_upsert_external(
            organization=request.organization,
            external_id=external_id,
            data=data,
            actor=request.user,
        )
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
