"""The desk's phone: the softphone's credentials, click-to-call from a contact, a number dialled
on the softphone (the simulated one; the real SDK dials through the TwiML App webhook)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.connectors.phone import call_place, softphone_token
from apps.connectors.providers.common import public_url
from apps.contacts.selectors import contact_get
from apps.desk.views import _agent, _error_text, _go, _picked
from apps.queues.models import Queue


def _origin(request) -> str:
    """Where the provider reaches us (the public URL without the path)."""
    url = public_url(request)
    return url[: len(url) - len(request.get_full_path())]


@login_required
@require_GET
def desk_phone_token_view(request):
    """The softphone's registration: a short-lived access token (or "simulated")."""
    agent = _agent(request)
    try:
        return JsonResponse(softphone_token(agent=agent))
    except ValidationError as exc:
        status = 403 if exc.code == "agent" else 409
        return JsonResponse({"detail": _error_text(exc), "code": exc.code}, status=status)


def _place(request, contact):
    agent = _agent(request)
    queue = _picked(
        Queue.objects.filter(organization_id=agent.organization_id), request.POST.get("queue")
    )
    try:
        interaction = call_place(
            agent=agent,
            contact=contact,
            number=(request.POST.get("number") or "").strip()[:40],
            queue=queue,
            base=_origin(request),
        )
    except ValidationError as exc:
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"detail": _error_text(exc), "code": exc.code}, status=400)
        messages.error(request, _error_text(exc))
        return redirect("desk-contact", pk=contact.pk)
    target = reverse("desk-interaction", kwargs={"pk": interaction.pk})
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"interaction": interaction.pk, "url": target}, status=201)
    return _go(request, target)


@login_required
@require_POST
def desk_contact_call_view(request, pk: int):
    """Click-to-call: the agent's phone rings first, then the contact's."""
    agent = _agent(request)
    contact = contact_get(organization=agent.organization, contact_id=pk)
    return _place(request, contact)


@login_required
@require_POST
def desk_phone_dial_view(request):
    """A number typed on the softphone: the contact it belongs to (created when new)."""
    from apps.contacts.services import IdentityBlocked, contact_resolve

    agent = _agent(request)
    try:
        contact, _identity, _created = contact_resolve(
            organization=agent.organization,
            kind="phone",
            value=(request.POST.get("number") or "").strip()[:40],
        )
    except (IdentityBlocked, ValidationError) as exc:
        return JsonResponse({"detail": _error_text(exc)}, status=400)
    request.META["HTTP_ACCEPT"] = "application/json"
    return _place(request, contact)
