"""The chat widget's HTTP side: its script, settings, the pre-chat form, history, uploads,
offline forms, transcripts, visitors' downloads, and a demo page.

Called from the customers' sites: answers carry CORS headers for the account's allowed
origins only (another origin: 403), and no cookie is used (the visitor's token travels in the
``X-Visitor-Token`` header), so CSRF protection has nothing to protect here.
"""

import json
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.connectors import selectors, webchat

WIDGET_SCRIPT = "webchat/widget.js"
TOKEN_HEADER = "X-Visitor-Token"  # noqa: S105 (a header name)


def _ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _error(exc: ValidationError) -> JsonResponse:
    status = 429 if isinstance(exc, webchat.RateLimited) else 400
    if hasattr(exc, "error_dict"):
        errors = exc.message_dict
        detail = " ".join(m for ms in errors.values() for m in ms)
    else:
        errors = {}
        detail = " ".join(exc.messages)
    code = getattr(exc, "code", None) or ("rate_limited" if status == 429 else "invalid")
    return JsonResponse({"detail": detail, "code": code, "errors": errors}, status=status)


def _json(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ValidationError(_("The request is not valid JSON.")) from exc
    if not isinstance(data, dict):
        raise ValidationError(_("The request is not valid JSON."))
    return data


def widget_endpoint(*methods: str):
    """Resolve the account, check the Origin, answer CORS preflights, turn service errors
    into ``{"detail": …}`` answers, and speak the organization's language."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, key, **kwargs):
            account = selectors.webchat_account(key=key)
            origin = request.headers.get("Origin", "")
            with translation.override(account.organization.language or None):
                if not webchat.origin_allowed(
                    account=account, origin=origin, own_host=request.get_host()
                ):
                    return JsonResponse(
                        {"detail": _("This site may not use this chat."), "code": "origin"},
                        status=403,
                    )
                if request.method == "OPTIONS":
                    response = HttpResponse(status=204)
                    response["Access-Control-Allow-Methods"] = ", ".join((*methods, "OPTIONS"))
                    response["Access-Control-Allow-Headers"] = f"Content-Type, {TOKEN_HEADER}"
                    response["Access-Control-Max-Age"] = "600"
                elif request.method not in methods:
                    response = JsonResponse({"detail": _("Method not allowed.")}, status=405)
                else:
                    try:
                        response = view(request, account, **kwargs)
                    except ValidationError as exc:
                        response = _error(exc)
            if origin:
                response["Access-Control-Allow-Origin"] = origin
            patch_vary_headers(response, ["Origin"])
            return response

        return wrapper

    return decorate


def _token(request) -> str:
    return request.headers.get(TOKEN_HEADER, "")


_script_cache: dict[str, bytes] = {}


@require_GET
def widget_script_view(request, key):
    """The widget itself (one file, the same for every account: it reads its key from its
    own URL); the account must exist."""
    selectors.webchat_account(key=key)
    if WIDGET_SCRIPT not in _script_cache or settings.DEBUG:  # DEBUG: edits show at once
        path = finders.find(WIDGET_SCRIPT)
        if not path:
            raise Http404
        with open(path, "rb") as handle:
            _script_cache[WIDGET_SCRIPT] = handle.read()
    response = HttpResponse(_script_cache[WIDGET_SCRIPT], content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"  # a script: public, like the static files
    return response


def widget_strings() -> dict[str, str]:
    """The widget's words, in the organization's language (the widget has no catalogue of
    its own)."""
    return {
        "open": _("Chat with us"),
        "close": _("Close"),
        "name": _("Your name"),
        "email": _("Your e-mail"),
        "subject": _("How can we help?"),
        "message": _("Message"),
        "phone": _("Phone number"),
        "at": _("When should we call?"),
        "start": _("Start the chat"),
        "send": _("Send"),
        "attach": _("Attach a file"),
        "placeholder": _("Write a message…"),
        "typing": _("%(name)s is typing…"),
        "waiting": _("You are number %(position)s in line."),
        "wait": _("Estimated wait: about %(minutes)s min."),
        "connecting": _("Connecting…"),
        "joined": _("You are chatting with %(name)s."),
        "ended": _("The conversation has ended."),
        "new_chat": _("Start a new chat"),
        "transcript": _("E-mail me the transcript"),
        "transcript_sent": _("The transcript was sent to %(email)s."),
        "offline": _("We are not available right now."),
        "leave_message": _("Leave a message"),
        "callback": _("Ask us to call you"),
        "message_left": _("Thank you: we will answer by e-mail."),
        "callback_set": _("Thank you: we will call you at the time you chose."),
        "not_sent": _("Not sent"),
        "error": _("Something went wrong. Please try again."),
    }


@widget_endpoint("GET")
def config_view(request, account):
    config = account.config or {}
    return JsonResponse(
        {
            "title": config.get("title") or account.organization.name,
            "greeting": config.get("greeting", ""),
            "color": config.get("color", "#1f6feb"),
            "offline_message": config.get("offline_message", ""),
            "fields": list(webchat.PRECHAT_FIELDS),
            "required": webchat.required_fields(account),
            "open": webchat.webchat_is_open(account=account),
            "max_chars": settings.WEBCHAT_MESSAGE_MAX_CHARS,
            "max_bytes": settings.ATTACHMENT_MAX_BYTES,
            "strings": widget_strings(),
        }
    )


@widget_endpoint("POST")
def start_view(request, account):
    data = _json(request)
    interaction = webchat.webchat_start(
        account=account,
        token=_token(request),
        fields=data,
        ip=_ip(request),
        page=str(data.get("page", "")),
    )
    visitor = webchat.visitor_for(account=account, token=_token(request))
    return JsonResponse(
        {"interaction": interaction.pk, **webchat.visitor_history(visitor)}, status=201
    )


@widget_endpoint("GET")
def history_view(request, account):
    visitor = webchat.visitor_for(account=account, token=_token(request))
    return JsonResponse(webchat.visitor_history(visitor))


@widget_endpoint("POST")
def upload_view(request, account):
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationError({"file": _("Choose a file.")})
    message = webchat.webchat_visitor_upload(
        account=account,
        token=_token(request),
        upload=upload,
        body=request.POST.get("body", ""),
        ip=_ip(request),
    )
    visitor = webchat.visitor_for(account=account, token=_token(request))
    return JsonResponse({"message": webchat.visitor_message_get(visitor, message.pk)}, status=201)


@widget_endpoint("POST")
def offline_view(request, account):
    data = _json(request)
    if data.get("mode") == "callback":
        callback = webchat.webchat_request_callback(account=account, fields=data, ip=_ip(request))
        return JsonResponse(
            {"callback": callback.pk, "at": callback.scheduled_for.isoformat()}, status=201
        )
    interaction = webchat.webchat_leave_message(account=account, fields=data, ip=_ip(request))
    return JsonResponse({"interaction": interaction.pk}, status=201)


@widget_endpoint("POST")
def transcript_view(request, account):
    email = webchat.webchat_send_transcript(account=account, token=_token(request), ip=_ip(request))
    return JsonResponse({"email": email})


@require_GET
def file_view(request, key, token):
    """A file of the visitor's conversation, by a signed link (expires; another visitor's or
    another account's file: 404)."""
    account = selectors.webchat_account(key=key)
    attachment = webchat.file_for_link(account=account, token=token)
    if attachment is None:
        raise Http404
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )


@require_GET
def demo_view(request, key):
    """A page that embeds the widget, as a customer's site would."""
    account = selectors.webchat_account(key=key)
    return render(request, "webchat/demo.html", {"account": account})


@login_required
@require_POST
def agent_typing_view(request, pk):
    """The desk's composer: the agent is typing (the widget shows it)."""
    from apps.desk.selectors import desk_interaction_get

    interaction = desk_interaction_get(user=request.user, interaction_id=pk, joined=True)
    webchat.webchat_agent_typing(interaction=interaction, agent=request.user)
    return HttpResponse(status=204)
