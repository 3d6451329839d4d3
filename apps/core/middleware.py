"""Request tenancy: ``request.organization`` and the user's own language and time zone."""

import zoneinfo

from django.utils import timezone, translation


class OrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        request.organization = None
        if not user.is_authenticated:
            return self.get_response(request)
        request.organization = user.organization
        language = user.effective_language
        # Scoped to this request: a reused thread must not keep the previous user's settings.
        with translation.override(language):
            timezone.activate(zoneinfo.ZoneInfo(user.effective_time_zone))
            request.LANGUAGE_CODE = language
            try:
                response = self.get_response(request)
            finally:
                timezone.deactivate()
        response.headers.setdefault("Content-Language", language)
        return response
