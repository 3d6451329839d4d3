"""Provider webhooks: check the signature (bad: 403, nothing stored), store what came, answer.

The work (contacts, conversations, routing, media downloads) happens in a task afterwards, so
the provider gets its answer in milliseconds and a failure there is retried, never lost.
"""

from django.core import signing
from django.http import FileResponse, Http404, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connectors import selectors, services
from apps.connectors.models import Kind
from apps.connectors.providers import fax, meta, twilio_sms, x
from apps.connectors.providers.common import MEDIA_LINK_MAX_AGE, public_url

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _refused() -> HttpResponse:
    return HttpResponseForbidden("Invalid signature.", content_type="text/plain")


def _twilio(request, key, items_of) -> HttpResponse:
    account = selectors.webhook_account(key=key, kinds=[Kind.SMS])
    if not twilio_sms.verify(request, account):
        return _refused()
    services.inbound_accept(account=account, items=items_of(request))
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_sms_view(request, key):
    return _twilio(request, key, twilio_sms.inbound_items)


@csrf_exempt
@require_POST
def twilio_sms_status_view(request, key):
    return _twilio(request, key, twilio_sms.status_items)


def _voice(request, key, answer) -> HttpResponse:
    """A signed call webhook of a voice number: TwiML back at once."""
    from apps.connectors.providers import twilio_voice

    account = selectors.webhook_account(key=key, kinds=[Kind.VOICE])
    if not twilio_voice.verify(request, account):
        return _refused()
    return HttpResponse(answer(account), content_type="text/xml")


def _call(request) -> str:
    return (request.GET.get("call") or request.POST.get("CallSid") or "")[:64]


def _base(request) -> str:
    """Where the provider reached us (the public URL without the path): REST callbacks."""
    url = public_url(request)
    return url[: len(url) - len(request.get_full_path())]


@csrf_exempt
@require_POST
def twilio_voice_view(request, key):
    from apps.connectors import voice

    fields = {k: request.POST.get(k, "")[:500] for k in request.POST}
    if not fields.get("CallSid"):
        return HttpResponse("CallSid missing.", status=400, content_type="text/plain")
    return _voice(
        request,
        key,
        lambda account: voice.call_incoming(account=account, fields=fields, base=_base(request)),
    )


@csrf_exempt
@require_POST
def twilio_voice_gather_view(request, key):
    from apps.connectors import voice

    fields = {k: request.POST.get(k, "")[:500] for k in ("Digits", "SpeechResult")}
    return _voice(
        request,
        key,
        lambda account: voice.call_gather(account=account, call_sid=_call(request), fields=fields),
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def twilio_voice_wait_view(request, key):
    from apps.connectors import voice

    digits = request.POST.get("Digits", "")[:10]
    return _voice(
        request,
        key,
        lambda account: voice.call_wait(account=account, call_sid=_call(request), digits=digits),
    )


@csrf_exempt
@require_POST
def twilio_voice_client_view(request, key):
    """The TwiML App's voice URL: a call the agent's browser softphone places."""
    from apps.connectors import phone

    fields = {k: request.POST.get(k, "")[:500] for k in request.POST}
    if not fields.get("CallSid"):
        return HttpResponse("CallSid missing.", status=400, content_type="text/plain")
    return _voice(
        request,
        key,
        lambda account: phone.softphone_call(account=account, fields=fields, base=_base(request)),
    )


def _voice_stored(request, key, items_of, answer=None) -> HttpResponse:
    from apps.connectors.providers import twilio_voice

    account = selectors.webhook_account(key=key, kinds=[Kind.VOICE])
    if not twilio_voice.verify(request, account):
        return _refused()
    services.inbound_accept(account=account, items=items_of(request))
    return HttpResponse(answer(account) if answer else EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_voice_status_view(request, key):
    from apps.connectors.providers import twilio_voice

    return _voice_stored(request, key, twilio_voice.status_items)


@csrf_exempt
@require_POST
def twilio_voice_recording_view(request, key):
    from apps.connectors import voice
    from apps.connectors.providers import twilio_voice

    return _voice_stored(
        request,
        key,
        lambda r: twilio_voice.recording_items(r, kind="recording"),
        lambda account: voice.call_recorded(account=account, call_sid=_call(request)),
    )


@csrf_exempt
@require_POST
def twilio_voice_transcription_view(request, key):
    from apps.connectors.providers import twilio_voice

    return _voice_stored(
        request, key, lambda r: twilio_voice.recording_items(r, kind="transcription")
    )


@csrf_exempt
@require_POST
def twilio_voice_recording_status_view(request, key):
    """A call recording's status callback (or its transcript): stored once, handled in a task."""
    from apps.connectors.providers import twilio_voice

    return _voice_stored(request, key, twilio_voice.recording_status_items)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_view(request, key):
    """WhatsApp, Messenger and Instagram: GET is Meta's subscription check, POST the events."""
    account = selectors.webhook_account(
        key=key, kinds=[Kind.WHATSAPP, Kind.MESSENGER, Kind.INSTAGRAM]
    )
    if request.method == "GET":
        challenge = meta.subscription_challenge(request, account)
        if challenge is None:
            return _refused()
        return HttpResponse(challenge, content_type="text/plain")
    if not meta.verify(request, account):
        return _refused()
    try:
        items = meta.items(request.body, account)
    except ValueError:
        return HttpResponse("Not JSON.", status=400, content_type="text/plain")
    services.inbound_accept(account=account, items=items)
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def x_view(request, key):
    """X's Account Activity API: GET is the challenge-response check (CRC), POST the events."""
    account = selectors.webhook_account(key=key, kinds=[Kind.X])
    if request.method == "GET":
        answer = x.crc_response(request, account)
        if answer is None:
            return HttpResponse("crc_token missing.", status=400, content_type="text/plain")
        return answer
    if not x.verify(request, account):
        return _refused()
    try:
        items = x.items(request.body, account)
    except ValueError:
        return HttpResponse("Not JSON.", status=400, content_type="text/plain")
    services.inbound_accept(account=account, items=items)
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def fax_view(request, key):
    """A fax provider's delivery (multipart, signed with the account's webhook secret)."""
    from django.core.exceptions import ValidationError

    account = selectors.webhook_account(key=key, kinds=[Kind.FAX])
    try:
        items = fax.read(request, account)
    except (ValueError, ValidationError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return HttpResponse(message, status=400, content_type="text/plain")
    if items is None:
        return _refused()
    services.inbound_accept(account=account, items=items)
    return HttpResponse(status=200)


@require_GET
def media_view(request, token):
    """A file we send by link (MMS, WhatsApp media): the link is signed and expires."""
    from apps.interactions.models import Attachment

    try:
        data = signing.loads(token, salt="connectors.media", max_age=MEDIA_LINK_MAX_AGE)
    except signing.BadSignature as exc:
        raise Http404 from exc
    attachment = Attachment.objects.filter(pk=data.get("a")).first()
    if attachment is None:
        raise Http404
    return FileResponse(
        attachment.file.open("rb"),
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )


VOICEMAIL_CHUNK = 64 * 1024


@require_GET
def voicemail_audio_view(request, token):
    """A voicemail's audio from a signed, expiring link (in a notification): fetched from the
    provider with the number's credentials and passed on, so the link reveals none of them.
    A tampered or expired link, or a message no longer there, is 404."""
    import requests
    from django.http import StreamingHttpResponse

    from apps.connectors.voicemail import voicemail_audio_source

    source = voicemail_audio_source(token=token)
    if source is None:
        raise Http404
    account, url = source
    try:
        upstream = requests.get(
            url,
            auth=(account.config.get("account_sid", ""), account.secret("auth_token")),
            stream=True,
            timeout=15,
            allow_redirects=True,
        )
    except requests.RequestException:
        return HttpResponse(status=502)
    if upstream.status_code != 200:
        upstream.close()
        return HttpResponse(status=502)
    kind = upstream.headers.get("Content-Type", "audio/x-wav")
    response = StreamingHttpResponse(
        upstream.iter_content(VOICEMAIL_CHUNK),
        content_type=kind if kind.startswith("audio/") else "audio/x-wav",
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = 'inline; filename="voicemail.wav"'
    return response
