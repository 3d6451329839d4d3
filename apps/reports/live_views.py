"""The live wallboard page (and its TV mode); live updates come over the socket
(``apps.reports.consumers``) rendered from the same template partial."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from apps.reports.live import wallboard, wallboard_allowed


@login_required
def wallboard_view(request):
    """Supervisors, managers and administrators of an organization; agents get 403.
    ``?tv=1``: full screen for a wall (dark, big figures, no navigation)."""
    if not wallboard_allowed(request.user):
        raise PermissionDenied
    context = {"board": wallboard(organization=request.organization)}
    if request.htmx:
        return render(request, "reports/_wallboard.html", context)
    template = (
        "reports/wallboard_tv.html" if request.GET.get("tv") == "1" else "reports/wallboard.html"
    )
    return render(request, template, context)
