"""Error pages: a missing plan feature explains itself instead of a bare 403."""

from django.http import JsonResponse
from django.shortcuts import render

from apps.core.exceptions import FeatureNotAvailable


def permission_denied(request, exception=None):
    context = {"exception": exception}
    if isinstance(exception, FeatureNotAvailable):
        context["feature"] = exception.label
        return render(request, "core/feature_unavailable.html", context, status=403)
    return render(request, "403.html", context, status=403)


def page_not_found(request, exception=None):
    """API clients get ``{"detail"}`` JSON like every other API error; people get a page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)
