"""API authentication by organization API key: ``Authorization: Api-Key <key>``."""

from functools import cached_property

from django.contrib.auth.models import Permission
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_authenticate


class ApiKeyPrincipal:
    """Stands for an integrator's system: acts for one organization with one role's permissions."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    language = ""

    @property
    def effective_language(self) -> str:
        return self.organization.language

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.organization = api_key.organization
        self.username = f"api-key:{api_key.prefix}"

    def __str__(self) -> str:
        return self.username

    @cached_property
    def _permissions(self) -> set[str]:
        rows = Permission.objects.filter(group__name=self.api_key.role).values_list(
            "content_type__app_label", "codename"
        )
        return {f"{app}.{codename}" for app, codename in rows}

    def has_perm(self, perm: str, obj=None) -> bool:
        return perm in self._permissions

    def has_perms(self, perms, obj=None) -> bool:
        return all(self.has_perm(p) for p in perms)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid API key header."))
        api_key = api_key_authenticate(raw_key=header[1].decode(errors="replace"))
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes API-key authentication in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: an organization key, created in the admin.",
        }
