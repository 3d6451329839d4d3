"""API mechanics: organization scoping, plan gate, role permissions, ``{"detail"}`` errors."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, permissions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.exceptions import FeatureNotAvailable, NoOrganization
from apps.core.features import require_feature


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            text = _flatten(value)
            return text if key in ("non_field_errors", "detail", "__all__") else f"{key}: {text}"
        return ""
    if isinstance(detail, list):
        return _flatten(detail[0]) if detail else ""
    return str(detail)


def exception_handler(exc, context):
    """Every error is ``{"detail": "..."}``; validation errors also carry ``errors`` by field."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, DjangoPermissionDenied) and not isinstance(exc, exceptions.APIException):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        response.data = {"detail": _flatten(errors) or "Invalid input.", "errors": errors}
    elif not (isinstance(response.data, dict) and "detail" in response.data):
        response.data = {"detail": _flatten(response.data)}
    return response


class InOrganization(permissions.BasePermission):
    """The caller acts for an organization; it is put on ``request.organization``."""

    def has_permission(self, request, view):
        org = getattr(request.user, "organization", None)
        if org is None or not org.is_active:
            raise NoOrganization()
        request.organization = org
        return True


class PlanFeature(permissions.BasePermission):
    """The view's ``required_feature`` (default ``api``) is in the organization's plan."""

    def has_permission(self, request, view):
        code = getattr(view, "required_feature", "api")
        if code:
            try:
                require_feature(request.organization, code)
            except FeatureNotAvailable as exc:
                raise exceptions.PermissionDenied(str(exc)) from exc
        return True


class RolePermissions(permissions.DjangoModelPermissions):
    """Model permissions from the caller's roles, reads included (agents may not list users)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
    }


ORGANIZATION_PERMISSIONS = [permissions.IsAuthenticated, InOrganization, PlanFeature]


class OrganizationScopedMixin:
    """Base of every API view: tenant resolution and plan gate, then role permissions."""

    permission_classes = [*ORGANIZATION_PERMISSIONS, RolePermissions]
    required_feature = "api"


def error(detail: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": detail}, status=code)
