"""Error pages: a missing plan feature explains itself instead of a bare 403."""

from django.shortcuts import render

from apps.core.exceptions import FeatureNotAvailable


def permission_denied(request, exception=None):
    context = {"exception": exception}
    if isinstance(exception, FeatureNotAvailable):
        context["feature"] = exception.label
        return render(request, "core/feature_unavailable.html", context, status=403)
    return render(request, "403.html", context, status=403)
