"""The simulated provider: plays TwiML to a pretend caller and calls our webhooks, signed.

A call is a ``SimCall``. Executing a TwiML document appends what the caller hears (``<Say>``,
``<Play>``) to ``heard`` and follows ``<Redirect>``; it stops where a real call would wait:
``<Gather>`` (keys or words: ``sim_keys``, ``sim_speak``, or its timeout: ``sim_tick``),
``<Record>`` (``sim_record`` "records" a message, then calls the recording action and the
transcription callback), ``<Dial><Conference>`` (until the REST API moves the call, or it
hangs up). ``<Hangup>`` or the end of the document ends the call, which posts the status
callback. ``<Dial>`` to a number is noted (the other party is not simulated).

Legs our system places through the REST API are answered at once by a pretend person, except
a customer's number (one of the organization's contacts) and an agent's desk softphone while
it is registered (``SimPhone``): those ring until someone answers (``sim_answer``, on the
simulator's page or the desk), declines (``sim_decline``: busy) or the ``Timeout`` passes
(``sim_tick``: no-answer), as a real phone would.

Webhooks are signed like Twilio signs them (``RequestValidator.compute_signature`` with the
number's auth token) and sent over HTTP to ``base`` (the running server), or, for a call placed
``in_process`` (the management command without a server), through Django's test client.

No database transaction is held while a webhook is called: the server answering it writes too.
"""

import hashlib
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from apps.voicesim.models import SimCall, SimRecording

MAX_REDIRECTS = 25
REGISTRATION_SECONDS = 20  # a desk's simulated softphone polls more often than this
WEBHOOK_TIMEOUT = 20  # seconds
ENDED = SimCall.Status.COMPLETED


class SimError(Exception):
    """The simulated call cannot do that now (no question asked, call over…)."""


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def conference_sid(organization_id: int, name: str) -> str:
    return "CF" + hashlib.sha256(f"{organization_id}:{name}".encode()).hexdigest()[:32]


def in_process_base() -> str:
    return settings.PUBLIC_BASE_URL or "http://localhost"


# --- Transport ---------------------------------------------------------------------------------


def _fields(call: SimCall, **extra) -> dict:
    return {
        "AccountSid": call.account.config.get("account_sid", ""),
        "CallSid": call.sid,
        "From": call.from_number,
        "To": call.to_number,
        "Direction": call.direction,
        "CallStatus": call.status,
        "ApiVersion": "2010-04-01",
        **{k: str(v) for k, v in extra.items()},
    }


def _send(call: SimCall, url: str, params: dict, method: str = "POST") -> tuple[int, str]:
    """Call one of our webhooks as the provider would: signed with the number's auth token."""
    token = call.account.secret("auth_token")
    if method == "GET":
        sep = "&" if "?" in url else "?"
        url = url + sep + "&".join(f"{k}={requests.utils.quote(v)}" for k, v in params.items())
        params = {}
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature}
    if call.in_process:
        from django.test import Client

        parts = urlsplit(url)
        client = Client(HTTP_HOST=parts.netloc, **{"wsgi.url_scheme": parts.scheme})
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sender = client.get if method == "GET" else client.post
        response = sender(path, params, headers=headers, secure=parts.scheme == "https")
        return response.status_code, response.content.decode()
    try:
        response = requests.request(
            method, url, data=params or None, headers=headers, timeout=WEBHOOK_TIMEOUT
        )
    except requests.RequestException as exc:
        return 599, str(exc)
    return response.status_code, response.text


def _fetch(call: SimCall, url: str, params: dict, method: str = "POST") -> str | None:
    """A TwiML document from ``url`` (None, with a note the caller "hears", on failure)."""
    status, body = _send(call, url, params, method)
    if status != 200:
        _hear(call, "info", f"[webhook answered {status}]")
        return None
    return body


def _hear(call: SimCall, kind: str, text: str) -> None:
    text = " ".join((text or "").split())
    if text:
        call.heard = [*call.heard, {"kind": kind, "text": text, "at": timezone.now().isoformat()}]
        if kind != "info":
            _capture(call, kind, text)


def _capture(call: SimCall, kind: str, text: str) -> None:
    """What a recording of the call in progress captures (nothing while it is paused)."""
    part = {"kind": kind, "text": text, "at": timezone.now().isoformat()}
    for recording in SimRecording.objects.filter(
        call_id=call.pk, status=SimRecording.Status.IN_PROGRESS
    ):
        recording.content = [*recording.content, part]
        recording.save(update_fields=["content"])


# --- Executing TwiML ---------------------------------------------------------------------------


def execute(call: SimCall, twiml: str | None, doc_url: str, depth: int = 0) -> SimCall:
    """Play ``twiml`` (fetched from ``doc_url``) until the call waits or ends; saved."""
    if twiml is None:
        return _end(call)
    if "<!DOCTYPE" in twiml or "<!ENTITY" in twiml:  # TwiML never has one: no entity tricks
        _hear(call, "info", "[not TwiML]")
        return _end(call)
    try:
        root = ET.fromstring(twiml)  # noqa: S314 (no DTD, checked above)
    except ET.ParseError:
        _hear(call, "info", "[not TwiML]")
        return _end(call)
    call.doc_url = doc_url
    return _run(call, list(root), doc_url, depth)


def _bool(value) -> bool:
    return str(value).lower() == "true"


def _run(call: SimCall, verbs: list, doc_url: str, depth: int) -> SimCall:
    for index, verb in enumerate(verbs):
        rest = verbs[index + 1 :]
        tag = verb.tag
        if tag == "Say":
            _hear(call, "say", verb.text or "")
        elif tag == "Play":
            _hear(call, "play", f"♪ {verb.text or ''}")
        elif tag == "Gather":
            for child in verb:
                if child.tag == "Say":
                    _hear(call, "say", child.text or "")
                elif child.tag == "Play":
                    _hear(call, "play", f"♪ {child.text or ''}")
            timeout = int(verb.get("timeout") or 5)
            call.waiting = {
                "kind": "gather",
                "action": urljoin(doc_url, verb.get("action") or doc_url),
                "method": verb.get("method") or "POST",
                "num_digits": int(verb.get("numDigits") or 0),
                "finish_on_key": verb.get("finishOnKey", "#"),
                "timeout": timeout,
                "deadline": (timezone.now() + timedelta(seconds=timeout)).isoformat(),
                "on_empty": _bool(verb.get("actionOnEmptyResult")),
                "buffer": "",
                "rest": _serialize(rest),
                "doc": doc_url,
            }
            call.save()
            return call
        elif tag == "Record":
            call.waiting = {
                "kind": "record",
                "action": urljoin(doc_url, verb.get("action") or doc_url),
                "transcribe": urljoin(doc_url, verb.get("transcribeCallback") or "")
                if verb.get("transcribeCallback")
                else "",
                "max_length": int(verb.get("maxLength") or 120),
                "rest": _serialize(rest),
                "doc": doc_url,
            }
            _hear(call, "info", "[beep: recording]")
            call.save()
            return call
        elif tag == "Redirect":
            if depth >= MAX_REDIRECTS:
                _hear(call, "info", "[too many redirects]")
                return _end(call)
            url = urljoin(doc_url, (verb.text or "").strip() or doc_url)
            method = (verb.get("method") or "POST").upper()
            call.save()
            return execute(call, _fetch(call, url, _fields(call), method), url, depth + 1)
        elif tag == "Dial":
            conference = verb.find("Conference")
            if conference is not None:
                call.conference = (conference.text or "").strip()[:100]
                call.hold = False
                call.waiting = {
                    "kind": "conference",
                    "end_on_exit": _bool(conference.get("endConferenceOnExit")),
                    "rest": _serialize(rest),
                    "doc": doc_url,
                }
                _hear(call, "info", "[joined the conference]")
                call.save()
                return call
            number = verb.find("Number")
            target = (number.text if number is not None else verb.text) or ""
            _hear(call, "info", f"[dialled {target.strip()}]")
        elif tag == "Start":
            for child in verb:
                if child.tag == "Recording":
                    call.save()
                    callback = child.get("recordingStatusCallback") or ""
                    recording_start(
                        call=call,
                        status_callback=urljoin(doc_url, callback) if callback else "",
                        events=child.get("recordingStatusCallbackEvent") or "completed",
                        channels=child.get("channels") or "mono",
                        source="StartCallRecordingTwiML",
                    )
        elif tag in ("Hangup", "Reject"):
            return _end(call)
        # Pause, and verbs the simulator does not play, pass.
    return _end(call)


def _serialize(verbs: list) -> str:
    return "<Response>" + "".join(ET.tostring(v, encoding="unicode") for v in verbs) + "</Response>"


def _continue(call: SimCall) -> SimCall:
    """After a wait that ended without an action: the rest of the document."""
    waiting = call.waiting or {}
    call.waiting = {}
    return execute(call, waiting.get("rest") or "<Response/>", waiting.get("doc") or call.doc_url)


# --- What the caller (or the provider) does ----------------------------------------------------


def sim_call_start(*, account, from_number: str, base: str = "", started_by=None) -> SimCall:
    """A person dials ``account``'s number: the incoming-call webhook, then its TwiML.
    Without ``base``, the webhooks are called in-process (no server needed)."""
    call = SimCall.objects.create(
        organization=account.organization,
        account=account,
        sid=new_sid("CA"),
        direction="inbound",
        from_number=from_number,
        to_number=account.address,
        status=SimCall.Status.RINGING,
        base=(base or in_process_base()).rstrip("/"),
        in_process=not base,
        started_by=started_by,
    )
    url = call.base + reverse("connectors-twilio-voice", kwargs={"key": account.key})
    twiml = _fetch(call, url, _fields(call))
    if twiml is not None:
        call.status = SimCall.Status.IN_PROGRESS
        call.answered_at = timezone.now()
    return execute(call, twiml, url)


def _live(call: SimCall) -> SimCall:
    call = SimCall.objects.select_related("account__organization").get(pk=call.pk)
    if call.status == ENDED:
        raise SimError("The call is over.")
    return call


def _submit(call: SimCall, **answer) -> SimCall:
    waiting = call.waiting
    call.waiting = {}
    call.save()
    url, method = waiting["action"], waiting.get("method", "POST").upper()
    return execute(call, _fetch(call, url, _fields(call, **answer), method), url)


def sim_keys(*, call: SimCall, keys: str, submit: bool = False) -> SimCall:
    """Keys pressed on the keypad. ``submit``: what was typed is sent at the end even
    without the finishing key (a whole answer at once, as the command line gives them)."""
    call = _live(call)
    for key in keys:
        _capture(call, "key", key)  # a recording hears the tones, whoever listens
        if (call.waiting or {}).get("kind") != "gather":
            _hear(call, "info", f"[key {key} ignored]")
            call.save()
            continue
        waiting = call.waiting
        if key == waiting.get("finish_on_key"):
            call = _submit(call, Digits=waiting.get("buffer", ""))
            continue
        waiting["buffer"] = waiting.get("buffer", "") + key
        call.waiting = waiting
        call.save()
        if waiting.get("num_digits") and len(waiting["buffer"]) >= waiting["num_digits"]:
            call = _submit(call, Digits=waiting["buffer"])
    if submit and (call.waiting or {}).get("kind") == "gather" and call.waiting.get("buffer"):
        call = _submit(call, Digits=call.waiting["buffer"])
    return call


def sim_speak(*, call: SimCall, words: str) -> SimCall:
    """The caller says ``words`` to a question (speech recognition, perfectly)."""
    call = _live(call)
    kind = (call.waiting or {}).get("kind")
    if kind == "conference":  # talking on the call: the others hear it (``sim_say``)
        sim_say(call=call, words=words.strip())
        return call
    if kind != "gather":
        raise SimError("Nobody is listening for an answer now.")
    _capture(call, "said", words.strip())
    return _submit(call, SpeechResult=words.strip(), Confidence="0.9")


def sim_record(*, call: SimCall, text: str, seconds: int = 5) -> SimCall:
    """The caller leaves ``text`` as a message: the recording action (whose TwiML is played),
    then the transcription callback."""
    call = _live(call)
    waiting = call.waiting or {}
    if waiting.get("kind") != "record":
        raise SimError("Nothing is recording now.")
    # The message is a recording of the provider's like any other (served by the Recordings
    # resource behind the number's credentials).
    now = timezone.now()
    recording = SimRecording.objects.create(
        organization_id=call.organization_id,
        call=call,
        sid=new_sid("RE"),
        source="RecordVerb",
        status=SimRecording.Status.COMPLETED,
        content=[{"kind": "said", "text": text.strip()}] if text.strip() else [],
        started_at=now - timedelta(seconds=max(1, int(seconds))),
        ended_at=now,
    )
    answer = {
        "RecordingSid": recording.sid,
        "RecordingUrl": recording_url(recording),
        "RecordingDuration": str(recording.duration),
    }
    call = _submit(call, **answer)
    if waiting.get("transcribe") and text.strip():
        fields = _fields(
            call,
            TranscriptionSid=new_sid("TR"),
            TranscriptionText=text.strip(),
            TranscriptionStatus="completed",
            **answer,
        )
        _send(call, waiting["transcribe"], fields)
    return call


def sim_tick(*, call: SimCall, now=None) -> SimCall:
    """Time passes: a question that timed out is answered with silence (or what was typed);
    a phone that rang past its ``Timeout`` stops ringing (status ``no-answer``)."""
    call = SimCall.objects.select_related("account__organization").get(pk=call.pk)
    waiting = call.waiting or {}
    now = now or timezone.now()
    if call.status == ENDED or waiting.get("kind") not in ("gather", "ring"):
        return call
    if now.isoformat() < waiting.get("deadline", ""):
        return call
    if waiting["kind"] == "ring":  # nobody picked up
        return _end(call, status="no-answer")
    if waiting.get("buffer"):
        return _submit(call, Digits=waiting["buffer"])
    if waiting.get("on_empty"):
        return _submit(call, Digits="")
    return _continue(call)


def sim_hangup(*, call: SimCall) -> SimCall:
    """The caller hangs up."""
    return _end(_live(call))


def _end(call: SimCall, *, status: str = "completed") -> SimCall:
    """The call is over: its status callback, and a conference it ended empties."""
    if call.status == ENDED:
        return call
    now = timezone.now()
    duration = int((now - (call.answered_at or now)).total_seconds())
    end_others = (call.waiting or {}).get("kind") == "conference" and call.waiting.get(
        "end_on_exit"
    )
    conference = call.conference
    call.status, call.ended_at, call.waiting, call.conference = ENDED, now, {}, ""
    _hear(call, "info", "[call ended]" if status == "completed" else f"[call ended: {status}]")
    call.save()
    for recording in SimRecording.objects.filter(
        call_id=call.pk, status__in=[SimRecording.Status.IN_PROGRESS, SimRecording.Status.PAUSED]
    ):
        recording_finish(recording=recording)
    url = call.status_callback
    if not url and call.direction == "inbound":
        key = call.account.key
        url = call.base + reverse("connectors-twilio-voice-status", kwargs={"key": key})
    if url:
        _send(call, url, _fields(call, CallStatus=status, CallDuration=duration))
    if end_others and conference:
        for other in SimCall.objects.filter(
            organization_id=call.organization_id, conference=conference
        ).exclude(status=ENDED):
            _end(other)
    return call


# --- The REST API our system calls (``TWILIO_API_BASE`` points here) ----------------------------


def rest_call_create(*, account, params: dict) -> SimCall:
    """``POST Calls.json``: a leg our system places (an agent's, with a whisper): answered at
    once by the simulated person, then its TwiML (``Twiml`` or fetched from ``Url``)."""
    status_callback = params.get("StatusCallback", "")
    parts = urlsplit(status_callback or params.get("Url", ""))
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else in_process_base()
    call = SimCall.objects.create(
        organization=account.organization,
        account=account,
        sid=new_sid("CA"),
        direction="outbound-api",
        from_number=params.get("From", "")[:64],
        to_number=params.get("To", "")[:64],
        status=SimCall.Status.RINGING,
        base=base,
        in_process=not parts.netloc,
        status_callback=status_callback[:500],
    )
    events = params.get("StatusCallbackEvent", "")
    if status_callback and "ringing" in events:
        _send(call, status_callback, _fields(call))
    # A person must pick up: a phone dialled with a ring timeout (a follow-me mobile), a
    # customer, or a registered desk softphone; other agents' legs answer at once.
    timed = bool(params.get("Timeout")) and not call.to_number.startswith("client:")
    if timed or _rings(account, call.to_number):
        timeout = _int(params.get("Timeout"), 60)
        call.waiting = {
            "kind": "ring",
            "deadline": (timezone.now() + timedelta(seconds=timeout)).isoformat(),
            "timeout": timeout,
            "events": events,
            "play": {k: params[k] for k in ("Twiml", "Url", "Method") if params.get(k)},
        }
        _hear(call, "info", "[ringing]")
        call.save()
        return call
    return _answer(call, params, events)


def _int(value, default: int) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


def _rings(account, to: str) -> bool:
    """Whether a person must answer this leg (else the simulator answers at once, as it does
    for agents' phones): a customer (one of the organization's contacts' numbers), or an
    agent whose desk's simulated softphone is registered (``client:<username>``)."""
    from apps.contacts.models import Identity, IdentityKind
    from apps.voicesim.models import SimPhone

    if to.startswith("client:"):
        since = timezone.now() - timedelta(seconds=REGISTRATION_SECONDS)
        return SimPhone.objects.filter(
            organization_id=account.organization_id,
            identity=to.removeprefix("client:"),
            last_seen__gte=since,
        ).exists()
    return Identity.objects.filter(
        organization_id=account.organization_id, kind=IdentityKind.PHONE, value=to
    ).exists()


def _answer(call: SimCall, params: dict, events: str) -> SimCall:
    call.status = SimCall.Status.IN_PROGRESS
    call.answered_at = timezone.now()
    call.waiting = {}
    call.save()
    if call.status_callback and "answered" in events:
        _send(call, call.status_callback, _fields(call))
    return _play_new(call, params)


def _ringing(call: SimCall) -> SimCall:
    call = _live(call)
    if (call.waiting or {}).get("kind") != "ring":
        raise SimError("This call is not ringing.")
    return call


def sim_answer(*, call: SimCall) -> SimCall:
    """The person called picks up: the call plays what our system asked (a conference)."""
    call = _ringing(call)
    waiting = call.waiting
    _hear(call, "info", "[answered]")
    return _answer(call, waiting.get("play") or {}, waiting.get("events", ""))


def sim_decline(*, call: SimCall, status: str = "busy") -> SimCall:
    """The person called is busy (declines), or does not answer (``status`` "no-answer")."""
    call = _ringing(call)
    return _end(call, status="no-answer" if status == "no-answer" else "busy")


def sim_phone_register(*, organization, identity: str) -> None:
    """A desk's simulated softphone is there (polled): legs to it ring until answered."""
    from apps.voicesim.models import SimPhone

    now = timezone.now()
    phones = SimPhone.objects.filter(organization=organization, identity=identity)
    # Polled every second or two by every open desk: write only now and then.
    if not phones.filter(last_seen__lt=now - timedelta(seconds=5)).update(last_seen=now):
        SimPhone.objects.get_or_create(
            organization=organization, identity=identity, defaults={"last_seen": now}
        )


def sim_phone_unregister(*, organization, identity: str) -> None:
    from apps.voicesim.models import SimPhone

    SimPhone.objects.filter(organization=organization, identity=identity).delete()


def _play_new(call: SimCall, params: dict) -> SimCall:
    if params.get("Twiml"):
        return execute(call, params["Twiml"], call.doc_url or call.base + "/")
    if params.get("Url"):
        url = params["Url"]
        return execute(call, _fetch(call, url, _fields(call), params.get("Method", "POST")), url)
    return call


def rest_call_update(*, call: SimCall, params: dict) -> SimCall:
    """``POST Calls/<sid>.json``: new instructions for a live call, or hang it up."""
    if call.status == ENDED:
        raise SimError("The call is over.")
    if params.get("Status") in ("completed", "canceled"):
        ringing = (call.waiting or {}).get("kind") == "ring"
        return _end(call, status="canceled" if ringing else "completed")
    call.waiting, call.conference, call.hold = {}, "", False
    call.muted, call.coaching = False, ""
    call.save()
    return _play_new(call, params)


def rest_participant_create(*, account, conference: str, params: dict) -> SimCall:
    """``POST Conferences/<sid or name>/Participants.json``: a new leg dialled straight into
    the conference (a supervisor's), with its audio settings: ``Muted`` (heard by nobody),
    ``Coaching`` + ``CallSidToCoach`` (heard by that participant only)."""
    twiml = _conference_twiml(conference, end_on_exit=_bool(params.get("EndConferenceOnExit")))
    call = rest_call_create(account=account, params={**params, "Twiml": twiml})
    call.muted = _bool(params.get("Muted"))
    call.coaching = params.get("CallSidToCoach", "")[:34] if _bool(params.get("Coaching")) else ""
    call.save(update_fields=["muted", "coaching"])
    return call


def _conference_twiml(name: str, *, end_on_exit: bool) -> str:
    from twilio.twiml.voice_response import Dial, VoiceResponse

    response = VoiceResponse()
    dial = Dial()
    dial.conference(name, end_conference_on_exit=end_on_exit, beep=False)
    response.append(dial)
    return str(response)


def rest_participant_update(*, call: SimCall, params: dict) -> SimCall:
    """``POST Conferences/<sid>/Participants/<CallSid>.json``: hold (with music) or resume;
    mute or unmute; start or stop coaching a participant."""
    if "Muted" in params:
        call.muted = _bool(params["Muted"])
    if "Coaching" in params or "CallSidToCoach" in params:
        coaching = _bool(params.get("Coaching", "true"))
        call.coaching = (params.get("CallSidToCoach") or call.coaching)[:34] if coaching else ""
    if "Hold" in params:
        call.hold = _bool(params["Hold"])
        if call.hold:
            _hear(call, "info", "[on hold]")
            if params.get("HoldUrl"):
                _hear(call, "play", f"♪ {params['HoldUrl']}")
        else:
            _hear(call, "info", "[back from hold]")
    call.save()
    return call


def conference_calls(*, organization_id: int, name: str):
    return SimCall.objects.filter(organization_id=organization_id, conference=name).exclude(
        status=ENDED
    )


def sim_say(*, call: SimCall, words: str) -> list[SimCall]:
    """Someone on a conference leg speaks: who hears it follows the participants' audio
    settings — nobody when the speaker is muted or on hold, only the coached participant when
    the speaker coaches, everyone else (not on hold) otherwise. Returns the legs that heard."""
    call = _live(call)
    if not call.conference or (call.waiting or {}).get("kind") != "conference":
        raise SimError("Nobody is on the line with you.")
    _capture(call, "said", words)  # the leg's own recording keeps what it says
    if call.muted or call.hold:
        return []
    others = conference_calls(organization_id=call.organization_id, name=call.conference).exclude(
        pk=call.pk
    )
    hearers = [
        other
        for other in others
        if not other.hold
        and (other.waiting or {}).get("kind") == "conference"
        and (not call.coaching or other.sid == call.coaching)
    ]
    for other in hearers:
        _hear(other, "voice", f"{call.label}: {words}")
        other.save(update_fields=["heard"])
    return hearers


# --- Recordings (``<Start><Recording>`` and the Recordings REST resource) ------------------------

RECORDING_LIVE = (SimRecording.Status.IN_PROGRESS, SimRecording.Status.PAUSED)


def recording_url(recording: SimRecording) -> str:
    """Where the audio is, as Twilio gives it (no extension: ``.wav`` or ``.mp3`` is added)."""
    account_sid = recording.call.account.config.get("account_sid", "")
    return (
        f"{recording.call.base}/voice/simulator/api/2010-04-01/Accounts/{account_sid}"
        f"/Recordings/{recording.sid}"
    )


def _recording_fields(recording: SimRecording, status: str) -> dict:
    call = recording.call
    return {
        "AccountSid": call.account.config.get("account_sid", ""),
        "CallSid": call.sid,
        "RecordingSid": recording.sid,
        "RecordingUrl": recording_url(recording),
        "RecordingStatus": status,
        "RecordingDuration": str(recording.duration if status == "completed" else 0),
        "RecordingChannels": str(recording.channels),
        "RecordingStartTime": recording.started_at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "RecordingSource": recording.source,
        "RecordingTrack": "both",
    }


def _recording_callback(recording: SimRecording, status: str) -> None:
    events = recording.status_callback_events.replace(",", " ").split()
    if recording.status_callback and status in events:
        _send(recording.call, recording.status_callback, _recording_fields(recording, status))


def recording_start(
    *,
    call: SimCall,
    status_callback: str = "",
    events: str = "completed",
    channels="mono",
    source: str = "StartCallRecordingAPI",
) -> SimRecording:
    """A recording of ``call`` begins now (its ``in-progress`` callback when asked for)."""
    recording = SimRecording.objects.create(
        organization_id=call.organization_id,
        call=call,
        sid=new_sid("RE"),
        channels=2 if str(channels) in ("2", "dual") else 1,
        source=source,
        status_callback=status_callback[:500],
        status_callback_events=" ".join(events.replace(",", " ").split())[:100],
    )
    _recording_callback(recording, "in-progress")
    return recording


def recording_finish(*, recording: SimRecording) -> SimRecording:
    """Stopped or the call ended: the ``completed`` callback with the audio's URL, then (when
    the number transcribes recordings) the transcript of what was said in it."""
    recording.status = SimRecording.Status.COMPLETED
    recording.ended_at = timezone.now()
    recording.save(update_fields=["status", "ended_at"])
    _recording_callback(recording, "completed")
    call = recording.call
    spoken = [p["text"] for p in recording.content if p["kind"] in ("say", "said")]
    if recording.status_callback and call.account.config.get("transcribe_recordings") and spoken:
        fields = {
            **_recording_fields(recording, "completed"),
            "TranscriptionSid": new_sid("TR"),
            "TranscriptionText": " ".join(spoken),
            "TranscriptionStatus": "completed",
        }
        _send(call, recording.status_callback, fields)
    return recording


def rest_recording_create(*, call: SimCall, params: dict) -> SimRecording:
    """``POST Calls/<sid>/Recordings.json``: record a live call from now on."""
    if call.status != SimCall.Status.IN_PROGRESS:
        raise SimError("Requested resource is not eligible for recording")
    return recording_start(
        call=call,
        status_callback=params.get("RecordingStatusCallback", ""),
        events=params.get("RecordingStatusCallbackEvent", "") or "completed",
        channels=params.get("RecordingChannels", "mono"),
    )


def rest_recording_update(*, recording: SimRecording, params: dict) -> SimRecording:
    """``POST Calls/<sid>/Recordings/<sid>.json``: ``Status`` paused, in-progress or stopped
    (``PauseBehavior`` skip or silence: either way nothing said is captured)."""
    status = params.get("Status", "")
    if recording.status not in RECORDING_LIVE:
        raise SimError("The recording is over.")
    if status == "stopped":
        recording.status = SimRecording.Status.STOPPED
        recording.save(update_fields=["status"])
        return recording_finish(recording=recording)
    if status == "paused":
        recording.status = SimRecording.Status.PAUSED
        recording.pause_behavior = params.get("PauseBehavior") or "silence"
    elif status == "in-progress":
        recording.status = SimRecording.Status.IN_PROGRESS
    else:
        raise SimError("Status must be paused, in-progress or stopped.")
    recording.save(update_fields=["status", "pause_behavior"])
    return recording


def recording_wav(recording: SimRecording) -> bytes:
    """A small WAV of the recording's length (a quiet tone, at most ten seconds)."""
    import io
    import math
    import wave

    rate = 8000
    frames = rate * min(10, recording.duration)
    samples = bytes(128 + int(20 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(samples)
    return buffer.getvalue()
