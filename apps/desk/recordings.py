"""Call recordings on the desk: the agent's buttons (start, stop, pause, resume), the player
(the stored audio, streamed by an access-checked view), tags, and the supervisors' search."""

from datetime import datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.desk import selectors
from apps.desk.views import _agent, _conversation_response, _error_text, _supervisor
from apps.interactions.models import Recording
from apps.interactions.selectors import recording_search

ACTIONS = ("start", "stop", "pause", "resume")


def _recording(request, pk: int) -> Recording:
    """A recording of the user's organization whose call the user may open (theirs, one they
    joined, or any for a supervisor); 404 otherwise."""
    user = _agent(request)
    recording = (
        Recording.objects.filter(organization_id=user.organization_id, pk=pk)
        .select_related("interaction")
        .first()
    )
    if recording is None:
        raise Http404
    selectors.desk_interaction_get(user=user, interaction_id=recording.interaction_id, joined=True)
    return recording


@login_required
@require_POST
def desk_recording_control_view(request, pk: int, action: str):
    """The agent's recording buttons on a live call."""
    from apps.connectors.recording import recording_control

    _agent(request)
    interaction = selectors.desk_interaction_get(user=request.user, interaction_id=pk)
    if action not in ACTIONS:
        raise Http404
    error = ""
    try:
        recording_control(interaction=interaction, action=action, actor=request.user)
    except ValidationError as exc:
        error = _error_text(exc)
    return _conversation_response(request, interaction, error_key="recording_error", error=error)


@login_required
@require_GET
def desk_recording_audio_view(request, pk: int):
    """The stored audio, streamed from our storage: never the provider's URL (which needs its
    credentials)."""
    recording = _recording(request, pk)
    if not recording.file:
        raise Http404
    response = FileResponse(
        recording.file.open("rb"), content_type=recording.content_type or "audio/x-wav"
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def desk_recording_tags_view(request, pk: int):
    from apps.connectors.recording import recording_tags_set

    recording = _recording(request, pk)
    names = [n for n in request.POST.get("tags", "").split(",") if n.strip()]
    recording_tags_set(recording=recording, names=names, actor=request.user)
    return render(request, "desk/_recording.html", {"recording": recording})


def _day(raw: str, *, end: bool = False):
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        return None
    if end:
        day += timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time()), timezone.get_current_timezone())


def _number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


@login_required
@require_GET
def recordings_view(request):
    """Supervisors search the organization's recordings: dates (in their time zone), agent,
    queue, tag, words of the transcript."""
    from django.contrib.auth import get_user_model

    from apps.queues.models import Queue

    user = _supervisor(request)
    organization = user.organization
    get = request.GET
    filters = {k: get.get(k, "").strip() for k in ("since", "until", "agent", "queue", "tag", "q")}
    recordings = recording_search(
        organization=organization,
        since=_day(filters["since"]),
        until=_day(filters["until"], end=True),
        agent_id=_number(filters["agent"]),
        queue_id=_number(filters["queue"]),
        tag=filters["tag"],
        text=filters["q"],
    )[:100]
    context = {"recordings": recordings, "filters": filters}
    if request.htmx:
        return render(request, "desk/_recording_rows.html", context)
    context.update(
        agents=get_user_model()
        .objects.filter(organization=organization, is_active=True)
        .order_by("username"),
        queues=Queue.objects.filter(organization=organization).order_by("name"),
    )
    return render(request, "desk/recordings.html", context)
