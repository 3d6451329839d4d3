"""Register a fax or a scanned letter by hand: it becomes an interaction routed like any other."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.connectors.services import document_receive
from apps.desk.views import _agent, _error_text, _picked
from apps.queues.models import Queue


@login_required
def document_new_view(request):
    user = _agent(request)
    if not user.has_perm("interactions.add_interaction"):
        raise PermissionDenied
    queues = Queue.objects.filter(organization_id=user.organization_id, is_active=True).order_by(
        "name"
    )
    error, values = "", {}
    if request.method == "POST":
        values = request.POST
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose the PDF or image to register.")
        else:
            try:
                interaction = document_receive(
                    organization=user.organization,
                    channel=request.POST.get("channel", ""),
                    name=upload.name,
                    data=upload.read(),
                    sender=request.POST.get("sender", ""),
                    sender_name=request.POST.get("sender_name", ""),
                    subject=request.POST.get("subject", ""),
                    note=request.POST.get("note", ""),
                    queue=_picked(queues, request.POST.get("queue")),
                    actor=user,
                )
            except ValidationError as exc:
                error = _error_text(exc)
            else:
                messages.success(
                    request,
                    _("Registered: %(what)s is waiting in its queue.") % {"what": interaction},
                )
                return redirect("desk-document-new")
    return render(
        request,
        "desk/document.html",
        {"queues": queues, "error": error, "values": values},
        status=400 if error else 200,
    )
