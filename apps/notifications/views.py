from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.notifications import selectors, services
from apps.notifications.tasks import notification_send_task


@login_required
def notification_list_view(request):
    page = Paginator(selectors.notification_list(user=request.user), 25).get_page(
        request.GET.get("page")
    )
    template = "notifications/_rows.html" if request.htmx else "notifications/list.html"
    return render(request, template, {"page": page})


@login_required
def notification_detail_view(request, pk: int):
    notification = selectors.notification_get(user=request.user, notification_id=pk)
    return render(request, "notifications/detail.html", {"n": notification})


@login_required
@require_POST
def notification_read_view(request, pk: int):
    notification = selectors.notification_get(user=request.user, notification_id=pk)
    services.notification_mark_read(notification=notification)
    if request.htmx:
        return render(request, "notifications/_row.html", {"n": notification})
    # Only our own pages: a notification's link must not send people elsewhere.
    safe = url_has_allowed_host_and_scheme(notification.url, {request.get_host()})
    return redirect(notification.url if notification.url and safe else "notification-list")


@login_required
@require_POST
def notification_read_all_view(request):
    services.notification_mark_all_read(user=request.user)
    return redirect("notification-list")


@login_required
@require_POST
def notification_test_view(request):
    """Queue a notification through the worker: it comes back to every open page live."""
    user = request.user
    title = _("Test notification for %(name)s") % {"name": user.get_full_name() or user.username}
    transaction.on_commit(
        lambda: notification_send_task.delay(user.pk, title, _("Delivered by the worker."))
    )
    if request.htmx:
        return render(request, "notifications/_queued.html")
    messages.info(request, _("A test notification is on its way."))
    return redirect("home")
