"""The agent desk: presence, offers ringing, interactions in hand, one conversation at a time.

Every panel is a template partial; the live socket (``?desk=1``) sends the same partials with
``hx-swap-oob`` when the server changes something, so every tab shows the same state.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.desk import selectors
from apps.interactions.models import Channel, Disposition, Interaction, Message
from apps.interactions.selectors import canned_responses, screen_pop
from apps.interactions.services import (
    interaction_close,
    message_add_with_files,
    switch_targets,
)
from apps.queues.models import PresenceStatus, Queue, ReasonCode
from apps.queues.services import (
    interaction_transfer,
    offer_accept,
    offer_reject,
    participant_answer,
    participant_conference,
    participant_end,
    participant_invite,
    participant_invite_from_queue,
    participant_take_over,
    presence_set,
)


def _agent(request):
    if request.user.organization_id is None:  # the platform operator has no desk
        raise Http404
    return request.user


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _picked(queryset, raw):
    """The row of ``queryset`` a form field names by id, or None (missing, not a number, or
    not in the queryset: someone else's)."""
    raw = str(raw or "")
    return queryset.filter(pk=int(raw)).first() if raw.isdigit() else None


def _go(request, target: str):
    """Send the browser to ``target``: htmx follows ``HX-Redirect``, a plain form a 302."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def _local_datetime(raw: str):
    """A ``datetime-local`` field read in the user's time zone (None when not a date)."""
    from datetime import datetime

    from django.utils import timezone

    try:
        return timezone.make_aware(datetime.fromisoformat(raw), timezone.get_current_timezone())
    except ValueError:
        return None


def _colleague(user, raw):
    from django.contrib.auth import get_user_model

    people = get_user_model().objects.filter(organization_id=user.organization_id, is_active=True)
    return _picked(people, raw)


def desk_context(agent) -> dict:
    return {
        "work": selectors.desk_work(agent=agent),
        "presence": selectors.desk_presence(agent=agent),
        "reasons": list(selectors.desk_reason_codes(agent=agent)),
        "statuses": [
            (value, label)
            for value, label in PresenceStatus.choices
            if value != PresenceStatus.WRAP_UP  # set by the system after an interaction
        ],
    }


@login_required
def desk_view(request):
    agent = _agent(request)
    return render(request, "desk/desk.html", desk_context(agent))


@login_required
@require_POST
def desk_presence_view(request):
    agent = _agent(request)
    status = request.POST.get("status", "")
    reason = _picked(
        ReasonCode.objects.filter(organization_id=agent.organization_id, is_active=True),
        request.POST.get("reason"),
    )
    error = ""
    try:
        presence_set(agent=agent, status=status, reason=reason, actor=agent)
    except ValidationError as exc:
        error = _error_text(exc)
    context = {**desk_context(agent), "presence_error": error}
    if request.htmx:
        return render(request, "desk/_panels.html", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    return redirect("desk")


@login_required
@require_POST
def desk_offer_accept_view(request, pk: int):
    agent = _agent(request)
    offer = selectors.desk_offer_get(agent=agent, offer_id=pk)
    try:
        offer_accept(offer=offer, agent=agent)
    except ValidationError as exc:
        if request.htmx:
            context = {**desk_context(agent), "work_error": _error_text(exc)}
            return render(request, "desk/_panels.html", context, status=409)
        messages.error(request, _error_text(exc))
        return redirect("desk")
    return _go(request, reverse("desk-interaction", kwargs={"pk": offer.interaction_id}))


@login_required
@require_POST
def desk_offer_reject_view(request, pk: int):
    agent = _agent(request)
    offer = selectors.desk_offer_get(agent=agent, offer_id=pk)
    error = ""
    try:
        offer_reject(offer=offer, agent=agent)
    except ValidationError as exc:
        error = _error_text(exc)
    if request.htmx:
        return render(request, "desk/_panels.html", {**desk_context(agent), "work_error": error})
    if error:
        messages.error(request, error)
    return redirect("desk")


def pop_phones(interaction):
    from apps.contacts.models import IdentityKind

    return interaction.contact.identities.filter(kind=IdentityKind.PHONE)


def conversation_panels() -> list[tuple[str, str]]:
    """The conversation's panels an agent may keep on top (saved per user)."""
    return [
        ("screen-pop", _("Customer")),
        ("messages", _("Conversation")),
        ("internal-notes", _("Internal notes")),
        ("actions", _("Actions")),
        ("transfer", _("Transfer")),
        ("close", _("Close")),
        ("tags", _("Tags")),
    ]


def conversation_live_context(user, interaction) -> dict:
    """What changes on an open conversation while it is on screen: its state, the thread,
    the internal notes and the colleagues in it (the live socket sends these again)."""
    from apps.interactions.models import Participant

    return {
        "interaction": interaction,
        "leads": selectors.desk_leads(user=user, interaction=interaction),
        "participation": selectors.desk_participation(user=user, interaction=interaction),
        "participants": list(
            interaction.participants.filter(status__in=Participant.ACTIVE).select_related(
                "agent", "invited_by"
            )
        ),
        "messages_": list(
            Message.objects.filter(interaction=interaction)
            .select_related("author")
            .prefetch_related("attachments")
            .order_by("created_at", "id")
        ),
        "notes": list(interaction.notes.select_related("author")),
        "colleagues": selectors.desk_colleagues(user=user),
        "pinned": list(user.desk_pinned or []),
    }


def _conversation_context(request, interaction) -> dict:
    return conversation_context(request.user, interaction)


def _recordings_context(interaction) -> dict:
    """On a call: its recordings (player, transcript, tags) and whether one runs now."""
    if interaction.channel != Channel.VOICE:
        return {}
    from apps.interactions.selectors import recordings_for_interaction

    recordings = list(recordings_for_interaction(interaction=interaction))
    live = next((r for r in recordings if r.is_live), None)
    return {"recordings": recordings, "live_recording": live, "is_call": True}


def _call_context(user, interaction) -> dict:
    """On a call: whether the user has a leg in it to mute, and whether it is muted."""
    if interaction.channel != Channel.VOICE:
        return {}
    voice = (interaction.data or {}).get("voice") or {}
    leg = (voice.get("legs") or {}).get(str(user.pk), "")
    return {
        "call_leg": leg not in ("", "pending", "failed"),
        "call_muted": user.pk in (voice.get("muted") or []),
    }


def _whatsapp_context(interaction) -> dict:
    """On WhatsApp: whether free text may go (24-hour window) and the approved templates."""
    if interaction.channel != "whatsapp":
        return {}
    from apps.connectors.providers.meta import whatsapp_window_open
    from apps.connectors.services import whatsapp_templates

    return {
        "whatsapp_window_open": whatsapp_window_open(interaction),
        "whatsapp_templates": whatsapp_templates(interaction=interaction),
    }


def _video_possible(interaction) -> bool:
    from apps.connectors.services import VIDEO_FROM
    from apps.core.features import feature_enabled

    return interaction.channel in VIDEO_FROM and feature_enabled(
        interaction.organization, "channel_video"
    )


def conversation_context(user, interaction) -> dict:
    """Everything the conversation page shows (the live socket re-renders it whole when the
    user's part in it changes: a colleague who took it over gets the agent's tools)."""
    return {
        **conversation_live_context(user, interaction),
        "user": user,
        "panels": conversation_panels(),
        "pop": screen_pop(interaction=interaction),
        "tags": ", ".join(t.name for t in interaction.tags.all()),
        "switch_targets": switch_targets(interaction=interaction),
        "channel_labels": Channel.choices,
        "canned": list(
            canned_responses(
                organization=interaction.organization,
                language=interaction.language or interaction.contact.language,
            )
        ),
        "phones": [i.value for i in pop_phones(interaction)],
        "video_possible": _video_possible(interaction),
        **_whatsapp_context(interaction),
        **_recordings_context(interaction),
        **_call_context(user, interaction),
        "queues": list(
            Queue.objects.filter(
                organization_id=interaction.organization_id, is_active=True
            ).order_by("name")
        ),
        "dispositions": list(
            Disposition.objects.filter(
                organization_id=interaction.organization_id, is_active=True
            ).order_by("name")
        ),
        **desk_context(user),
    }


@login_required
def desk_interaction_view(request, pk: int):
    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk, joined=True)
    return render(request, "desk/interaction.html", _conversation_context(request, interaction))


@login_required
@require_POST
def desk_reply_view(request, pk: int):
    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk, joined=True)
    error = ""
    body = request.POST.get("body", "")
    files = request.FILES.getlist("files")
    via = request.POST.get("via", "")
    leads = selectors.desk_leads(user=request.user, interaction=interaction)
    if via and leads:
        return _reply_on_other_channel(request, interaction, via, body)
    participation = (
        None if leads else selectors.desk_participation(user=request.user, interaction=interaction)
    )
    if participation is not None and participation.mode != participation.Mode.CONFERENCE:
        error = _("In a consult you talk with your colleague: use the internal notes.")
    elif not interaction.is_open:
        error = _("This conversation is closed.")
    elif not body.strip() and not files:
        error = _("Write a message or attach a file.")
    else:
        try:
            message_add_with_files(
                interaction=interaction, author=request.user, body=body, files=files
            )
            body = ""
        except ValidationError as exc:
            error = _error_text(exc)
    context = {**_conversation_context(request, interaction), "reply_error": error, "body": body}
    if request.htmx:
        return render(request, "desk/_conversation.html", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    return redirect("desk-interaction", pk=pk)


def _reply_on_other_channel(request, interaction, via: str, body: str):
    """Channel switch: ``via`` = "<identity id>:<channel>"; the agent lands on the new one."""
    from apps.contacts.models import Identity
    from apps.interactions.services import interaction_switch_channel

    identity_id, _sep, channel = via.partition(":")
    identity = _picked(Identity.objects.filter(contact_id=interaction.contact_id), identity_id)
    error = ""
    if identity is None:
        error = _("Choose where to send it.")
    else:
        try:
            switched = interaction_switch_channel(
                interaction=interaction,
                identity=identity,
                channel=channel,
                agent=request.user,
                body=body,
            )
        except ValidationError as exc:
            error = _error_text(exc)
    if error:
        context = {
            **_conversation_context(request, interaction),
            "reply_error": error,
            "body": body,
        }
        template = "desk/_conversation.html" if request.htmx else "desk/interaction.html"
        return render(request, template, context, status=400)
    return _go(request, reverse("desk-interaction", kwargs={"pk": switched.pk}))


@login_required
@require_POST
def desk_close_view(request, pk: int):
    agent = _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    disposition = _picked(
        Disposition.objects.filter(organization_id=agent.organization_id, is_active=True),
        request.POST.get("disposition"),
    )
    error = ""
    if disposition is None:
        error = _("Choose how it ended.")
    else:
        try:
            interaction_close(
                interaction=interaction,
                actor=request.user,
                disposition=disposition,
                notes=request.POST.get("notes", ""),
            )
        except ValidationError as exc:
            error = _error_text(exc)
    if error:
        context = {**_conversation_context(request, interaction), "close_error": error}
        if request.htmx:
            return render(request, "desk/_conversation.html", context, status=400)
        return render(request, "desk/interaction.html", context, status=400)
    messages.success(request, _("Closed."))
    return _go(request, reverse("desk"))


@login_required
@require_POST
def desk_transfer_view(request, pk: int):
    """Blind transfer to a colleague (``to=agent:<id>``) or a queue (``to=queue:<id>``)."""
    agent = _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    kind, _sep, number = request.POST.get("to", "").partition(":")
    target_agent = _colleague(agent, number) if kind == "agent" else None
    target_queue = (
        _picked(Queue.objects.filter(organization_id=agent.organization_id, is_active=True), number)
        if kind == "queue"
        else None
    )
    warm = bool(request.POST.get("warm"))
    note = request.POST.get("note", "")
    error = ""
    if target_agent is None and target_queue is None:
        error = _("Choose a colleague or a queue.")
    else:
        try:
            if warm and target_queue is not None:
                participant_invite_from_queue(
                    interaction=interaction, actor=request.user, queue=target_queue, note=note
                )
            elif warm:
                participant_invite(
                    interaction=interaction,
                    actor=request.user,
                    agent=target_agent,
                    note=note,
                    for_transfer=True,
                )
            else:
                interaction_transfer(
                    interaction=interaction,
                    actor=request.user,
                    agent=target_agent,
                    queue=target_queue,
                    note=note,
                )
        except ValidationError as exc:
            error = _error_text(exc)
    if error or warm:  # a warm transfer: the agent stays with the customer meanwhile
        return _conversation_response(request, interaction, error_key="transfer_error", error=error)
    messages.success(request, _("Transferred."))
    return _go(request, reverse("desk"))


@login_required
@require_POST
def desk_template_view(request, pk: int):
    """Send an approved WhatsApp template (free text is refused after 24 hours)."""
    from apps.connectors.services import whatsapp_template_send

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    error = ""
    try:
        whatsapp_template_send(
            interaction=interaction, agent=request.user, name=request.POST.get("template", "")
        )
    except ValidationError as exc:
        error = _error_text(exc)
    return _conversation_response(request, interaction, error_key="reply_error", error=error)


@login_required
@require_POST
def desk_video_view(request, pk: int):
    """Turn the conversation into a video call (the link goes to the customer)."""
    from apps.connectors.services import video_call_start

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    error = ""
    try:
        video_call_start(interaction=interaction, agent=request.user)
    except ValidationError as exc:
        error = _error_text(exc)
    return _conversation_response(request, interaction, error_key="action_error", error=error)


@login_required
@require_POST
def desk_consult_view(request, pk: int):
    """Bring a colleague in: to consult (``mode=consult``) or in conference."""
    agent = _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    colleague = _colleague(agent, request.POST.get("agent"))
    error = ""
    if colleague is None:
        error = _("Choose a colleague.")
    else:
        try:
            participant_invite(
                interaction=interaction,
                actor=request.user,
                agent=colleague,
                mode=request.POST.get("mode") or "consult",
                note=request.POST.get("note", ""),
            )
        except ValidationError as exc:
            error = _error_text(exc)
    return _conversation_response(request, interaction, error_key="consult_error", error=error)


@login_required
@require_POST
def desk_participant_view(request, pk: int, action: str):
    """Answer an invitation (accept, decline), leave, or, as the interaction's agent, bring
    the colleague into the conversation (conference), hand it over (take-over) or end it."""
    agent = _agent(request)
    participant = selectors.desk_participant_get(user=agent, participant_id=pk)
    interaction = participant.interaction
    try:
        if action in ("accept", "decline"):
            participant_answer(participant=participant, agent=agent, accept=action == "accept")
        elif action == "conference":
            participant_conference(participant=participant, actor=agent)
        elif action == "take-over":
            participant_take_over(participant=participant, actor=agent)
        elif action == "end":
            participant_end(participant=participant, actor=agent)
        else:
            raise Http404
    except ValidationError as exc:
        if not selectors.desk_leads(user=agent, interaction=interaction):  # the colleague
            if request.htmx:
                return render(
                    request,
                    "desk/_panels.html",
                    {**desk_context(agent), "work_error": _error_text(exc)},
                    status=400,
                )
            messages.error(request, _error_text(exc))
            return redirect("desk")
        return _conversation_response(
            request, interaction, error_key="consult_error", error=_error_text(exc)
        )
    if action == "accept":
        return _go(request, reverse("desk-interaction", kwargs={"pk": interaction.pk}))
    interaction.refresh_from_db()
    if not selectors.desk_leads(user=agent, interaction=interaction):
        # Declined, left, or handed over: back to their own work.
        if action == "take-over":
            messages.success(request, _("Transferred."))
        return _go(request, reverse("desk"))
    return _conversation_response(request, interaction)


# --- Supervisor view: agents and queues, live ---------------------------------------------------


def _supervisor(request):
    user = _agent(request)
    if not user.has_perm("interactions.supervise_interaction"):
        raise PermissionDenied
    return user


def supervisor_context(organization, user=None) -> dict:
    from apps.desk.selectors import supervisor_live_calls, supervisor_overview

    available = PresenceStatus.AVAILABLE
    overview = supervisor_overview(organization=organization)
    return {
        "live_calls": supervisor_live_calls(user=user) if user is not None else [],
        "monitor_modes": [
            ("listen", _("Listen")),
            ("whisper", _("Whisper")),
            ("barge", _("Barge")),
        ],
        "overview": overview,
        "available_agents": [a for a in overview.agents if a.status == available],
        "statuses": [
            (value, label) for value, label in PresenceStatus.choices if value != "wrap_up"
        ],
    }


def _supervisor_response(request, user, error: str = ""):
    context = {**supervisor_context(user.organization, user), "supervisor_error": error}
    if request.htmx:
        return render(request, "desk/_supervisor.html", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    return redirect("desk-supervisor")


@login_required
def supervisor_view(request):
    user = _supervisor(request)
    return render(request, "desk/supervisor.html", supervisor_context(user.organization, user))


@login_required
@require_POST
def supervisor_presence_view(request, pk: int):
    """A supervisor sets an agent's status (the change is an event with the supervisor as
    its actor)."""
    from django.contrib.auth import get_user_model

    user = _supervisor(request)
    if not user.has_perm("queues.change_presence"):
        raise PermissionDenied
    agent = get_user_model().objects.filter(organization_id=user.organization_id, pk=pk).first()
    if agent is None:
        raise Http404
    error = ""
    try:
        presence_set(agent=agent, status=request.POST.get("status", ""), actor=user)
    except ValidationError as exc:
        error = _error_text(exc)
    return _supervisor_response(request, user, error)


@login_required
@require_POST
def supervisor_assign_view(request, pk: int):
    """A supervisor offers a waiting interaction to a chosen agent."""
    from apps.queues.services import interaction_force_assign

    user = _supervisor(request)
    interaction = selectors.desk_interaction_get(user=user, interaction_id=pk)
    agent = _colleague(user, request.POST.get("agent"))
    error = ""
    if agent is None:
        error = _("Choose an agent.")
    else:
        try:
            interaction_force_assign(interaction=interaction, agent=agent, actor=user)
        except ValidationError as exc:
            error = _error_text(exc)
    return _supervisor_response(request, user, error)


# --- Conversation actions: hold/resume, callback, tags -----------------------------------------


def _conversation_response(request, interaction, *, error_key: str = "", error: str = ""):
    interaction.refresh_from_db()
    context = _conversation_context(request, interaction)
    if error:
        context[error_key] = error
    status = 400 if error else 200
    if request.htmx:
        return render(request, "desk/_conversation.html", context, status=status)
    if error:
        messages.error(request, error)
    return redirect("desk-interaction", pk=interaction.pk)


@login_required
@require_POST
def desk_hold_view(request, pk: int):
    """Put a live interaction on hold (``to=on_hold``) or take it back (``to=active``)."""
    from apps.interactions.models import State
    from apps.interactions.services import interaction_transition

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    target = request.POST.get("to", "")
    error = ""
    if target not in (State.ON_HOLD, State.ACTIVE):
        error = _("Hold or resume only.")
    else:
        try:
            interaction_transition(interaction=interaction, to=target, actor=request.user)
        except ValidationError as exc:
            error = _error_text(exc)
    return _conversation_response(request, interaction, error_key="action_error", error=error)


@login_required
@require_POST
def desk_mute_view(request, pk: int):
    """Mute (``muted=1``) or unmute (``muted=0``) the user's own leg of a live call."""
    from apps.connectors.voice import call_mute

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk, joined=True)
    error = ""
    try:
        call_mute(
            interaction=interaction, agent=request.user, muted=request.POST.get("muted") == "1"
        )
    except ValidationError as exc:
        error = _error_text(exc)
    return _conversation_response(request, interaction, error_key="action_error", error=error)


@login_required
@require_POST
def desk_callback_view(request, pk: int):
    """Schedule a call back to the customer, at a time in the agent's time zone."""
    from django.utils import timezone

    from apps.queues.services import callback_schedule

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    error = ""
    at = _local_datetime(request.POST.get("at", ""))
    queue = interaction.queue
    if at is None:
        error = _("Give a date and time.")
    elif queue is None:
        error = _("This conversation has no queue to call back from.")
    else:
        if at <= timezone.now():
            error = _("Choose a time in the future.")
        else:
            try:
                callback_schedule(
                    queue=queue,
                    contact=interaction.contact,
                    number=request.POST.get("number", ""),
                    scheduled_for=at,
                    origin=interaction,
                    actor=request.user,
                )
            except ValidationError as exc:
                error = _error_text(exc)
    if not error:
        messages.success(request, _("Callback scheduled."))
    return _conversation_response(request, interaction, error_key="callback_error", error=error)


@login_required
@require_POST
def desk_tags_view(request, pk: int):
    """Set the interaction's tags (comma-separated names)."""
    from apps.interactions.services import interaction_set_tags

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    names = [n.strip() for n in request.POST.get("tags", "").split(",") if n.strip()]
    interaction_set_tags(interaction=interaction, names=names)
    return _conversation_response(request, interaction)


@login_required
def desk_canned_view(request, pk: int):
    """The composer with a canned response filled in for this conversation."""
    from apps.interactions.models import CannedResponse
    from apps.interactions.selectors import canned_render

    agent = _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk, joined=True)
    canned = _picked(
        CannedResponse.objects.filter(organization_id=agent.organization_id, is_active=True),
        request.GET.get("response"),
    )
    body = canned_render(body=canned.body, interaction=interaction, agent=agent) if canned else ""
    return render(request, "desk/_composer_body.html", {"body": body})


@login_required
def desk_attachment_view(request, pk: int):
    """Download an attachment: only whoever may open its conversation."""
    from django.http import FileResponse

    from apps.interactions.models import Attachment

    agent = _agent(request)
    attachment = (
        Attachment.objects.filter(organization_id=agent.organization_id, pk=pk)
        .select_related("message")
        .first()
    )
    if attachment is None:
        raise Http404
    selectors.desk_interaction_get(
        user=request.user, interaction_id=attachment.message.interaction_id, joined=True
    )
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )


@login_required
@require_POST
def desk_layout_view(request):
    """Save which conversation panels stay on top for this user (on every device)."""
    agent = _agent(request)
    known = {key for key, _label in conversation_panels()}
    agent.desk_pinned = [p for p in request.POST.getlist("pinned") if p in known]
    agent.save(update_fields=["desk_pinned"])
    interaction_id = request.POST.get("interaction") or ""
    if interaction_id.isdigit():
        interaction = selectors.desk_interaction_get(user=agent, interaction_id=int(interaction_id))
        if request.htmx:
            return render(
                request, "desk/_conversation.html", _conversation_context(request, interaction)
            )
        return redirect("desk-interaction", pk=interaction.pk)
    return redirect("desk")


@login_required
@require_POST
def desk_block_view(request, pk: int):
    """Block (or unblock, ``unblock=1``) one of the customer's numbers or addresses."""
    from apps.contacts.models import Identity
    from apps.contacts.services import identity_block, identity_unblock

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    identity = _picked(
        Identity.objects.filter(contact_id=interaction.contact_id), request.POST.get("identity")
    )
    if identity is None:
        return _conversation_response(
            request, interaction, error_key="block_error", error=_("Choose a number or address.")
        )
    if request.POST.get("unblock") == "1":
        identity_unblock(identity=identity, actor=request.user)
    else:
        identity_block(identity=identity, actor=request.user, reason=request.POST.get("reason", ""))
    return _conversation_response(request, interaction)


@login_required
@require_POST
def desk_follow_up_create_view(request, pk: int):
    """A follow-up for this conversation's customer, due at a time in the agent's zone."""
    from apps.desk.services import follow_up_create

    agent = _agent(request)
    interaction = selectors.desk_interaction_get(user=agent, interaction_id=pk)
    assignee = _colleague(agent, request.POST.get("assignee") or agent.pk)
    due = _local_datetime(request.POST.get("due", ""))
    error = "" if due is not None else _("Give a date and time.")
    if not error and assignee is None:
        error = _("Choose who does it.")
    if not error:
        try:
            follow_up_create(
                interaction=interaction,
                assignee=assignee,
                title=request.POST.get("title", ""),
                due_at=due,
                actor=agent,
            )
        except ValidationError as exc:
            error = _error_text(exc)
    if not error:
        messages.success(request, _("Follow-up created."))
    return _conversation_response(request, interaction, error_key="follow_up_error", error=error)


@login_required
@require_POST
def desk_follow_up_done_view(request, pk: int):
    from apps.desk.models import FollowUp
    from apps.desk.services import follow_up_done

    agent = _agent(request)
    follow_up = FollowUp.objects.filter(
        organization_id=agent.organization_id, assignee=agent, pk=pk
    ).first()
    if follow_up is None:
        raise Http404
    follow_up_done(follow_up=follow_up, actor=agent)
    if request.htmx:
        return render(request, "desk/_panels.html", desk_context(agent))
    return redirect("desk")


@login_required
@require_POST
def desk_note_view(request, pk: int):
    """An internal note on the conversation (colleagues see it, the customer never does)."""
    from apps.interactions.services import interaction_note_add

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk, joined=True)
    error = ""
    try:
        interaction_note_add(
            interaction=interaction, body=request.POST.get("body", ""), author=request.user
        )
    except ValidationError as exc:
        error = _error_text(exc)
    return _conversation_response(request, interaction, error_key="note_error", error=error)


@login_required
@require_POST
def supervisor_monitor_view(request, pk: int):
    """Listen to, whisper in, barge into or leave a live call (``mode``: listen, whisper,
    barge, stop). A supervisor who does not lead the call's agent gets 404."""
    from apps.connectors import monitor

    user = _supervisor(request)
    interaction = (
        Interaction.objects.filter(organization_id=user.organization_id, pk=pk, channel="voice")
        .select_related("organization")
        .first()
    )
    if interaction is None or not monitor.monitor_allowed(supervisor=user, interaction=interaction):
        raise Http404
    mode = request.POST.get("mode", "")
    error = ""
    try:
        if mode == "stop":
            monitor.call_monitor_stop(interaction=interaction, supervisor=user)
        else:
            monitor.call_monitor_start(interaction=interaction, supervisor=user, mode=mode)
    except ValidationError as exc:
        error = _error_text(exc)
    return _supervisor_response(request, user, error)


FOLLOW_ME_ROWS = 4


def _follow_me_rows(request) -> list[dict]:
    """The chain's steps as the settings form posts them (rows left empty are skipped)."""
    steps = []
    for index in range(FOLLOW_ME_ROWS):
        kind = request.POST.get(f"kind-{index}", "")
        if not kind:
            continue
        step = {"kind": kind}
        if request.POST.get(f"timeout-{index}"):
            step["timeout"] = request.POST.get(f"timeout-{index}")
        if request.POST.get(f"number-{index}"):
            step["number"] = request.POST.get(f"number-{index}")[:20]
        if request.POST.get(f"agent-{index}"):
            step["agent"] = request.POST.get(f"agent-{index}")
        steps.append(step)
    return steps


@login_required
def desk_call_settings_view(request):
    """The agent's own calls settings: their mobile number, the follow-me chain (where a
    call for them rings in turn) and how they hear of a voicemail."""
    from django.contrib.auth import get_user_model

    from apps.connectors.followme import follow_me_chain, follow_me_set

    user = _agent(request)
    profile = getattr(user, "agent_profile", None)
    error = ""
    saved = False
    steps = follow_me_chain(user)
    mobile = getattr(profile, "mobile", "")
    notify = list(getattr(profile, "voicemail_notify", None) or ["desk"])
    if request.method == "POST":
        steps = _follow_me_rows(request)
        mobile = request.POST.get("mobile", "")[:20]
        notify = request.POST.getlist("notify")
        try:
            follow_me_set(agent=user, steps=steps, mobile=mobile, notify=notify)
            saved = True
        except ValidationError as exc:
            error = _error_text(exc)
    rows = [*steps, *[{} for _ in range(max(0, FOLLOW_ME_ROWS - len(steps)))]][:FOLLOW_ME_ROWS]
    colleagues = (
        get_user_model()
        .objects.filter(organization_id=user.organization_id, is_active=True)
        .exclude(pk=user.pk)
        .order_by("first_name", "last_name", "username")
    )
    context = {
        "rows": rows,
        "mobile": mobile,
        "notify": notify,
        "colleagues": colleagues,
        "error": error,
        "saved": saved,
        "kinds": [
            ("desk", _("My desk")),
            ("mobile", _("My mobile")),
            ("voicemail", _("My voicemail")),
            ("agent", _("A colleague")),
        ],
        "channels": [("desk", _("In the desk")), ("email", _("By e-mail")), ("sms", _("By SMS"))],
    }
    return render(request, "desk/call_settings.html", context, status=400 if error else 200)
