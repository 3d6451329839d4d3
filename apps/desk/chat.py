"""Team chat pages: the rooms of the people one works with, a room's thread, posting, files."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.desk import selectors, services
from apps.desk.models import ChatMessage, ChatRoom
from apps.desk.views import _agent, _error_text

THREAD_LENGTH = 100


def _rooms(user) -> list[ChatRoom]:
    from django.db.models import Q

    from apps.accounts.models import Team

    teams = Team.objects.filter(
        Q(members=user) | Q(supervisors=user), organization_id=user.organization_id
    ).distinct()
    rooms = [services.chat_team_room(team=team) for team in teams]
    rooms += list(
        ChatRoom.objects.filter(
            organization_id=user.organization_id, kind=ChatRoom.Kind.DIRECT, people=user
        ).prefetch_related("people")
    )
    return rooms


def _room(user, room_id: int) -> ChatRoom:
    room = (
        ChatRoom.objects.filter(organization_id=user.organization_id, pk=room_id)
        .select_related("team")
        .first()
    )
    if room is None or not services.chat_may_read(user=user, room=room):
        raise Http404
    return room


def room_title(room: ChatRoom, user) -> str:
    if room.team_id:
        return room.team.name
    others = [p for p in room.people.all() if p.pk != user.pk]
    return ", ".join(p.get_full_name() or p.username for p in others)


def rooms_listing(user) -> tuple[list, int]:
    """The user's rooms as (room, title, unread), and the unread total."""
    unread = selectors.chat_unread(user=user)
    rooms = [(r, room_title(r, user), unread.get(r.pk, 0)) for r in _rooms(user)]
    return rooms, sum(unread.values())


def chat_context(user, room: ChatRoom | None = None, **extra) -> dict:
    if room is not None:
        services.chat_mark_read(room=room, user=user)
    rooms, _total = rooms_listing(user)
    context = {
        "rooms": rooms,
        "colleagues": selectors.desk_colleagues(user=user),
        "room": room,
        **extra,
    }
    if room is not None:
        recent = (
            ChatMessage.objects.filter(room=room)
            .select_related("author")
            .order_by("-created_at", "-id")[:THREAD_LENGTH]
        )
        context["room_title"] = room_title(room, user)
        context["chat_messages"] = list(reversed(recent))
    return context


@login_required
def chat_home_view(request):
    user = _agent(request)
    return render(request, "desk/chat.html", chat_context(user))


@login_required
def chat_room_view(request, pk: int):
    user = _agent(request)
    room = _room(user, pk)
    return render(request, "desk/chat.html", chat_context(user, room))


@login_required
def chat_direct_view(request, pk: int):
    user = _agent(request)
    other = get_user_model().objects.filter(organization_id=user.organization_id, pk=pk).first()
    if other is None or other.pk == user.pk:
        raise Http404
    room = services.chat_direct_room(user=user, other=other)
    return redirect("desk-chat-room", pk=room.pk)


@login_required
@require_POST
def chat_post_view(request, pk: int):
    user = _agent(request)
    room = _room(user, pk)
    error = ""
    try:
        services.chat_post(
            room=room,
            author=user,
            body=request.POST.get("body", ""),
            upload=request.FILES.get("file"),
        )
    except ValidationError as exc:
        error = _error_text(exc)
    if request.htmx:
        # The message itself arrives through the socket, like everyone else's.
        return render(
            request,
            "desk/_chat_composer.html",
            {
                "room": room,
                "chat_error": error,
                "body": request.POST.get("body", "") if error else "",
            },
            status=400 if error else 200,
        )
    return redirect("desk-chat-room", pk=room.pk)


@login_required
def chat_file_view(request, pk: int):
    user = _agent(request)
    message = (
        ChatMessage.objects.filter(organization_id=user.organization_id, pk=pk)
        .exclude(file="")
        .select_related("room__team")
        .first()
    )
    if message is None or not services.chat_may_read(user=user, room=message.room):
        raise Http404
    return FileResponse(message.file.open("rb"), as_attachment=True, filename=message.filename)
