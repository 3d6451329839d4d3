"""The simulator's page (a pretend phone for the people of an organization) and the REST API
of the simulated provider (the subset of Twilio's that the voice part uses)."""

import base64
import hmac

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connectors.models import ChannelAccount, Kind
from apps.voicesim import engine
from apps.voicesim.models import SimCall, SimRecording

DEFAULT_CALLER = "+14155550123"


# --- The page ----------------------------------------------------------------------------------


def _organization(request):
    if request.user.organization_id is None:
        raise Http404
    return request.user.organization


def _numbers(organization):
    return ChannelAccount.objects.filter(
        organization=organization, kind=Kind.VOICE, is_active=True
    ).order_by("name")


def _call(request, pk: int) -> SimCall:
    call = (
        SimCall.objects.select_related("account")
        .filter(pk=pk, organization=_organization(request))
        .first()
    )
    if call is None:
        raise Http404
    return call


def _base(request) -> str:
    from django.conf import settings

    return settings.VOICE_SIMULATOR_WEBHOOK_BASE or request.build_absolute_uri("/").rstrip("/")


def _panel_context(call: SimCall) -> dict:
    others = []
    if call.conference:
        others = [
            c.label
            for c in engine.conference_calls(
                organization_id=call.organization_id, name=call.conference
            ).exclude(pk=call.pk)
        ]
    return {
        "call": call,
        "connected_to": others,
        "waiting": (call.waiting or {}).get("kind", ""),
        "keys": "123456789*0#",
    }


def _customer_calls(organization):
    """Calls our system placed to customers (click-to-call, callbacks), ringing or talking:
    a person answers them here as the customer."""
    calls = (
        SimCall.objects.filter(organization=organization, direction="outbound-api")
        .exclude(to_number__startswith="client:")
        .exclude(status=engine.ENDED)
        .select_related("account")[:20]
    )
    return [engine.sim_tick(call=call) for call in calls]  # a call nobody answers rings out


@login_required
@require_GET
def simulator_view(request):
    organization = _organization(request)
    calls = SimCall.objects.filter(
        organization=organization, started_by=request.user, direction="inbound"
    )[:10]
    legs = SimCall.objects.filter(organization=organization, direction="outbound-api").exclude(
        status=SimCall.Status.COMPLETED
    )[:10]
    return render(
        request,
        "voicesim/simulator.html",
        {
            "numbers": _numbers(organization),
            "calls": calls,
            "legs": legs,
            "default_caller": DEFAULT_CALLER,
            "outbound": [c for c in _customer_calls(organization) if c.status != engine.ENDED],
        },
    )


@login_required
@require_GET
def simulator_outbound_view(request):
    """The simulator page's list of calls to customers (htmx polls it)."""
    organization = _organization(request)
    calls = [c for c in _customer_calls(organization) if c.status != engine.ENDED]
    return render(request, "voicesim/_outbound.html", {"outbound": calls})


@login_required
@require_POST
def simulator_dial_view(request):
    organization = _organization(request)
    account = _numbers(organization).filter(pk=request.POST.get("number") or 0).first()
    caller = (request.POST.get("caller") or DEFAULT_CALLER).strip()[:30]
    if account is None:
        return render(
            request,
            "voicesim/simulator.html",
            {
                "numbers": _numbers(organization),
                "calls": [],
                "default_caller": caller,
                "error": _("Choose a number to call."),
            },
            status=400,
        )
    call = engine.sim_call_start(
        account=account, from_number=caller, base=_base(request), started_by=request.user
    )
    return redirect("voicesim-call", pk=call.pk)


@login_required
@require_GET
def simulator_call_view(request, pk: int):
    call = _call(request, pk)
    return render(request, "voicesim/call.html", _panel_context(call))


@login_required
@require_GET
def simulator_panel_view(request, pk: int):
    """The call as it is now (htmx polls it; time passing answers a question's timeout)."""
    call = engine.sim_tick(call=_call(request, pk))
    return render(request, "voicesim/_panel.html", _panel_context(call))


@login_required
@require_POST
def simulator_action_view(request, pk: int, action: str):
    call = _call(request, pk)
    error = ""
    try:
        if action == "keys":
            call = engine.sim_keys(call=call, keys=(request.POST.get("keys") or "")[:20])
        elif action == "speak":
            call = engine.sim_speak(call=call, words=(request.POST.get("words") or "")[:200])
        elif action == "record":
            call = engine.sim_record(call=call, text=(request.POST.get("words") or "")[:2000])
        elif action == "hangup":
            call = engine.sim_hangup(call=call)
        elif action == "answer":  # a phone our system dialled is picked up
            call = engine.sim_answer(call=call)
        elif action in ("decline", "busy", "no-answer"):
            call = engine.sim_decline(
                call=call, status="no-answer" if action == "no-answer" else "busy"
            )
        elif action == "say":
            engine.sim_say(call=call, words=(request.POST.get("words") or "")[:500])
        else:
            raise Http404
    except engine.SimError as exc:
        error = str(exc)
    call.refresh_from_db()
    context = {**_panel_context(call), "error": error}
    if request.htmx:
        return render(request, "voicesim/_panel.html", context)
    return redirect("voicesim-call", pk=call.pk)


# --- The desk's simulated softphone -------------------------------------------------------------


def _phone_calls(request):
    """The legs ringing or connected to the signed-in agent's softphone (``client:<them>``)."""
    return SimCall.objects.filter(
        organization=_organization(request),
        to_number=f"client:{request.user.username}",
        status__in=[SimCall.Status.RINGING, SimCall.Status.IN_PROGRESS],
    ).order_by("-created_at", "-id")


def _phone_json(call: SimCall | None) -> dict | None:
    if call is None:
        return None
    peers = []
    if call.conference:
        peers = [
            c.from_number if c.direction == "inbound" else c.label  # the caller, or who we dialled
            for c in engine.conference_calls(
                organization_id=call.organization_id, name=call.conference
            ).exclude(pk=call.pk)
        ]
    return {
        "id": call.pk,
        "status": "ringing" if (call.waiting or {}).get("kind") == "ring" else call.status,
        "from": call.from_number,
        "peers": peers,
        "heard": [line["text"] for line in call.heard if line.get("kind") == "say"][-1:],
    }


@login_required
@require_GET
def phone_state_view(request):
    """Polled by the desk: registers the softphone (legs to it ring here) and tells its call."""
    organization = _organization(request)
    engine.sim_phone_register(organization=organization, identity=request.user.username)
    call = None
    for candidate in _phone_calls(request)[:5]:
        candidate = engine.sim_tick(call=candidate)  # a ringing leg nobody answers gives up
        if candidate.status != engine.ENDED:
            call = candidate
            break
    return JsonResponse({"registered": True, "call": _phone_json(call)})


@login_required
@require_POST
def phone_unregister_view(request):
    engine.sim_phone_unregister(organization=_organization(request), identity=request.user.username)
    return JsonResponse({"registered": False})


@login_required
@require_POST
def phone_action_view(request, pk: int, action: str):
    """Answer, decline (busy) or hang up the agent's own leg."""
    call = _phone_calls(request).filter(pk=pk).first()
    if call is None:
        raise Http404
    try:
        if action == "answer":
            call = engine.sim_answer(call=call)
        elif action == "reject":
            call = engine.sim_decline(call=call, status="busy")
        elif action == "hangup":
            call = engine.sim_hangup(call=call)
        else:
            raise Http404
    except engine.SimError as exc:
        return JsonResponse({"detail": str(exc)}, status=409)
    call.refresh_from_db()
    return JsonResponse({"call": _phone_json(call if call.status != engine.ENDED else None)})


# --- The REST API ------------------------------------------------------------------------------


def _api_account(request, account_sid: str) -> ChannelAccount | None:
    """The voice number whose account SID and auth token the request's basic auth gives."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _sep, token = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if user != account_sid or not token:
        return None
    for account in ChannelAccount.objects.select_related("organization").filter(
        kind=Kind.VOICE, is_active=True, config__account_sid=account_sid
    ):
        if hmac.compare_digest(account.secret("auth_token").encode(), token.encode()):
            return account
    return None


def _unauthorized():
    return JsonResponse({"code": 20003, "message": "Authenticate", "status": 401}, status=401)


def _not_found():
    return JsonResponse(
        {"code": 20404, "message": "The requested resource was not found", "status": 404},
        status=404,
    )


def _params(request) -> dict:
    params = {k: request.POST.get(k, "") for k in request.POST}
    for name in ("StatusCallbackEvent", "RecordingStatusCallbackEvent"):
        if name in request.POST:
            params[name] = " ".join(request.POST.getlist(name))
    return params


def _call_json(call: SimCall, account_sid: str) -> dict:
    return {
        "sid": call.sid,
        "account_sid": account_sid,
        "to": call.to_number,
        "from": call.from_number,
        "status": call.status,
        "direction": call.direction,
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call.sid}.json",
    }


def _page(key: str, rows: list, uri: str) -> dict:
    return {
        key: rows,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": 50,
        "start": 0,
        "end": max(0, len(rows) - 1),
        "uri": uri,
    }


@csrf_exempt
@require_POST
def api_calls_view(request, account_sid: str):
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    params = _params(request)
    if not params.get("To") or not (params.get("Twiml") or params.get("Url")):
        return JsonResponse(
            {"code": 21201, "message": "To and Twiml or Url are required", "status": 400},
            status=400,
        )
    call = engine.rest_call_create(account=account, params=params)
    return JsonResponse(_call_json(call, account_sid), status=201)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_call_view(request, account_sid: str, call_sid: str):
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    call = SimCall.objects.filter(organization=account.organization, sid=call_sid).first()
    if call is None:
        return _not_found()
    if request.method == "POST":
        try:
            call = engine.rest_call_update(call=call, params=_params(request))
        except engine.SimError as exc:
            return JsonResponse({"code": 21220, "message": str(exc), "status": 400}, status=400)
    return JsonResponse(_call_json(call, account_sid))


def _conferences(account) -> dict[str, str]:
    names = (
        SimCall.objects.filter(organization=account.organization)
        .exclude(status=engine.ENDED)
        .exclude(conference="")
        .values_list("conference", flat=True)
        .distinct()
    )
    return {engine.conference_sid(account.organization_id, name): name for name in names}


@csrf_exempt
@require_GET
def api_conferences_view(request, account_sid: str):
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    wanted = request.GET.get("FriendlyName", "")
    rows = [
        {
            "sid": sid,
            "account_sid": account_sid,
            "friendly_name": name,
            "status": "in-progress",
            "api_version": "2010-04-01",
        }
        for sid, name in sorted(_conferences(account).items())
        if not wanted or name == wanted
    ]
    return JsonResponse(_page("conferences", rows, request.get_full_path()))


def _participant_json(call: SimCall, account_sid: str, conference: str) -> dict:
    return {
        "account_sid": account_sid,
        "call_sid": call.sid,
        "conference_sid": conference,
        "hold": call.hold,
        "muted": call.muted,
        "coaching": bool(call.coaching),
        "call_sid_to_coach": call.coaching or None,
        "status": "connected" if call.status == SimCall.Status.IN_PROGRESS else "ringing",
        "label": call.label,
    }


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_participants_view(request, account_sid: str, conference_sid: str):
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    conferences = _conferences(account)
    name = conferences.get(conference_sid)
    if request.method == "POST":
        # Twilio takes the conference's SID or its friendly name here.
        name = name or (conference_sid if conference_sid in conferences.values() else None)
        params = _params(request)
        if name is None:
            return _not_found()
        if not params.get("To") or not params.get("From"):
            return JsonResponse(
                {"code": 21201, "message": "To and From are required", "status": 400},
                status=400,
            )
        call = engine.rest_participant_create(account=account, conference=name, params=params)
        sid = engine.conference_sid(account.organization_id, name)
        return JsonResponse(_participant_json(call, account_sid, sid), status=201)
    if name is None:
        return _not_found()
    rows = [
        _participant_json(call, account_sid, conference_sid)
        for call in engine.conference_calls(organization_id=account.organization_id, name=name)
    ]
    return JsonResponse(_page("participants", rows, request.get_full_path()))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_participant_view(request, account_sid: str, conference_sid: str, call_sid: str):
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    name = _conferences(account).get(conference_sid)
    call = (
        engine.conference_calls(organization_id=account.organization_id, name=name)
        .filter(sid=call_sid)
        .first()
        if name
        else None
    )
    if call is None:
        return _not_found()
    if request.method == "POST":
        call = engine.rest_participant_update(call=call, params=_params(request))
    return JsonResponse(_participant_json(call, account_sid, conference_sid))


# --- Recordings -----------------------------------------------------------------------------


def _recording_json(recording: SimRecording, account_sid: str) -> dict:
    base = f"/2010-04-01/Accounts/{account_sid}"
    ended = recording.status == SimRecording.Status.COMPLETED
    return {
        "sid": recording.sid,
        "account_sid": account_sid,
        "call_sid": recording.call.sid,
        "conference_sid": None,
        "status": recording.status,
        "channels": recording.channels,
        "source": recording.source,
        "duration": str(recording.duration) if ended else "-1",
        "start_time": recording.started_at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "api_version": "2010-04-01",
        "uri": f"{base}/Calls/{recording.call.sid}/Recordings/{recording.sid}.json",
        "media_url": engine.recording_url(recording),
    }


def _recordings(account):
    return SimRecording.objects.select_related("call__account").filter(
        organization=account.organization, deleted=False
    )


def _live_recording(call: SimCall, sid: str) -> SimRecording | None:
    recordings = call.recordings.filter(deleted=False)
    if sid == "Twilio.CURRENT":  # Twilio's name for the call's recording in progress
        return recordings.filter(status__in=engine.RECORDING_LIVE).order_by("-started_at").first()
    return recordings.filter(sid=sid).first()


def _sim_error(exc, code: int = 21220):
    return JsonResponse({"code": code, "message": str(exc), "status": 400}, status=400)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_call_recordings_view(request, account_sid: str, call_sid: str):
    """``Calls/<sid>/Recordings.json``: start recording a live call (POST), or list its
    recordings (GET)."""
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    call = SimCall.objects.filter(organization=account.organization, sid=call_sid).first()
    if call is None:
        return _not_found()
    if request.method == "POST":
        try:
            recording = engine.rest_recording_create(call=call, params=_params(request))
        except engine.SimError as exc:
            return _sim_error(exc, 21220)
        return JsonResponse(_recording_json(recording, account_sid), status=201)
    rows = [_recording_json(r, account_sid) for r in _recordings(account).filter(call=call)]
    return JsonResponse(_page("recordings", rows, request.get_full_path()))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_call_recording_view(request, account_sid: str, call_sid: str, recording_sid: str):
    """``Calls/<sid>/Recordings/<sid>.json``: pause, resume or stop (``Status``)."""
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    call = SimCall.objects.filter(organization=account.organization, sid=call_sid).first()
    recording = _live_recording(call, recording_sid) if call is not None else None
    if recording is None:
        return _not_found()
    if request.method == "POST":
        try:
            recording = engine.rest_recording_update(recording=recording, params=_params(request))
        except engine.SimError as exc:
            return _sim_error(exc, 21220)
    return JsonResponse(_recording_json(recording, account_sid))


@csrf_exempt
@require_GET
def api_recordings_view(request, account_sid: str):
    """``Recordings.json``: the account's recordings (``CallSid`` filters)."""
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    recordings = _recordings(account)
    if request.GET.get("CallSid"):
        recordings = recordings.filter(call__sid=request.GET["CallSid"])
    rows = [_recording_json(r, account_sid) for r in recordings]
    return JsonResponse(_page("recordings", rows, request.get_full_path()))


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def api_recording_view(request, account_sid: str, name: str):
    """``Recordings/<sid>.json`` (fetch, DELETE) and the media itself, ``Recordings/<sid>``,
    ``.wav`` or ``.mp3`` (a WAV here), behind the account's credentials like Twilio's media
    with HTTP authentication enforced."""
    account = _api_account(request, account_sid)
    if account is None:
        return _unauthorized()
    sid, _dot, extension = name.partition(".")
    recording = _recordings(account).filter(sid=sid).first()
    if recording is None or extension not in ("", "json", "wav", "mp3"):
        return _not_found()
    if request.method == "DELETE":
        if extension != "json":
            return _not_found()
        recording.deleted = True
        recording.save(update_fields=["deleted"])
        return HttpResponse(status=204)
    if extension == "json":
        return JsonResponse(_recording_json(recording, account_sid))
    if recording.status != SimRecording.Status.COMPLETED:
        return _not_found()
    return HttpResponse(engine.recording_wav(recording), content_type="audio/x-wav")


def simulator_url() -> str:
    return reverse("voicesim-home")
