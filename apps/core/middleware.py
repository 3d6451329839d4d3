"""Request tenancy: ``request.organization`` and the user's own language and time zone."""

import zoneinfo

from django.utils import timezone, translation


class OrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        request.organization = None
        if user.is_authenticated:
            request.organization = user.organization
            if user.language:
                translation.activate(user.language)
                request.LANGUAGE_CODE = translation.get_language()
            timezone.activate(zoneinfo.ZoneInfo(user.effective_time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
