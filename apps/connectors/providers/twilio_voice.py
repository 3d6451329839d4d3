"""Voice through Twilio (or any provider speaking TwiML and Twilio's REST API, like the
built-in simulator of ``apps.voicesim``).

In: Twilio POSTs form fields (``CallSid``, ``From``, ``To``, ``CallStatus``, ``Digits``,
``SpeechResult``, ``RecordingUrl``, ``TranscriptionText``…) signed with ``X-Twilio-Signature``
(checked by ``twilio.request_validator.RequestValidator`` on the public URL, query included).
The call itself is answered at once with TwiML (``apps.connectors.voice``); status, recording and
transcription callbacks are stored as ``InboundEvent`` rows (once per call and status) and
handled here, in a task. Out: ``Client.calls`` and ``Client.conferences`` (REST, never inside a
database transaction).
"""

from django.conf import settings
from twilio.rest import Client

from apps.connectors.providers.twilio_sms import verify  # noqa: F401 (same signature rules)

ENDED_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}
KNOWN_STATUSES = {"queued", "initiated", "ringing", "in-progress", "answered"} | ENDED_STATUSES


SIMULATOR_API = "/voice/simulator/api"


def client(account, *, base: str = "") -> Client:
    """The REST client of ``account``: Twilio, or ``TWILIO_API_BASE`` when set; a number marked
    ``config["simulated"]`` (the demo's) uses the built-in simulator of the server its call came
    in on (``base``), whatever the port, without redirecting other accounts' REST calls."""
    rest = Client(account.config.get("account_sid", ""), account.secret("auth_token"))
    if account.config.get("simulated") and base:
        rest.api.base_url = base.rstrip("/") + SIMULATOR_API
    elif settings.TWILIO_API_BASE:
        rest.api.base_url = settings.TWILIO_API_BASE
    return rest


def _fields(request) -> dict:
    return {k: request.POST.get(k, "")[:2000] for k in request.POST}


def status_items(request) -> list:
    """One event per (call, status): a repeat of the same status is stored once."""
    from apps.connectors.services import Item

    fields = _fields(request)
    sid, status = fields.get("CallSid", ""), fields.get("CallStatus", "")
    if not sid or status not in KNOWN_STATUSES:
        return []
    fields["_call"] = request.GET.get("call", "")[:64] or sid
    leg = request.GET.get("leg", "")
    fields["_leg"] = leg if leg in ("agent", "followme", "monitor") else "customer"
    fields["_agent"] = request.GET.get("agent", "")[:20]
    fields["_step"] = request.GET.get("step", "")[:4]
    return [Item(kind="call_status", external_id=f"{sid}:{status}", payload=fields)]


def recording_items(request, *, kind: str) -> list:
    """A voicemail recording (``kind`` "recording") or its transcript ("transcription")."""
    from apps.connectors.services import Item

    fields = _fields(request)
    ref = fields.get("TranscriptionSid" if kind == "transcription" else "RecordingSid", "")
    if not ref:
        return []
    fields["_call"] = request.GET.get("call", "")[:64] or fields.get("CallSid", "")
    return [Item(kind=kind, external_id=ref, payload=fields)]


def recording_status_items(request) -> list:
    """A call recording's status (once per recording and status) or its transcript."""
    from apps.connectors.services import Item

    fields = _fields(request)
    sid = fields.get("RecordingSid", "")
    if not sid:
        return []
    fields["_call"] = request.GET.get("call", "")[:64] or fields.get("CallSid", "")
    if fields.get("TranscriptionSid"):
        return [
            Item(kind="call_transcript", external_id=fields["TranscriptionSid"], payload=fields)
        ]
    status = fields.get("RecordingStatus", "")
    return [Item(kind="call_recording", external_id=f"{sid}:{status}", payload=fields)]


def handle(event):
    from apps.connectors import voice

    if event.kind == "call_status":
        return voice.call_status_handle(account=event.account, fields=event.payload)
    if event.kind in ("call_recording", "call_transcript"):
        from apps.connectors.recording import recording_status_handle

        return recording_status_handle(account=event.account, fields=event.payload)
    if event.kind in ("recording", "transcription"):
        return voice.voicemail_handle(account=event.account, kind=event.kind, fields=event.payload)
    return "ignored"


def send(outbound) -> str:
    from apps.connectors.services import SendError

    raise SendError("A voice number does not send messages.", permanent=True)
