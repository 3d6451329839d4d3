"""The live wallboard page (and its TV mode); live updates come over the socket
(``apps.reports.consumers``) rendered from the same template partial."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone

from apps.reports.live import organization_zone, wallboard, wallboard_allowed


@login_required
def wallboard_view(request):
    """Supervisors, managers and administrators of an organization; agents get 403.
    ``?tv=1``: full screen for a wall (dark, big figures, no navigation)."""
    if not wallboard_allowed(request.user):
        raise PermissionDenied
    context = {"board": wallboard(organization=request.organization)}
    if request.htmx:
        template = "reports/_wallboard.html"
    elif request.GET.get("tv") == "1":
        template = "reports/wallboard_tv.html"
    else:
        template = "reports/wallboard.html"
    # The board speaks the organization's time, the one its "today" is cut in.
    with timezone.override(organization_zone(request.organization)):
        return render(request, template, context)
