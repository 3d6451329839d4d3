"""Team chat: rooms, who may read them, posting (live to every open page of the room)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apps.core.realtime import publish, user_group
from apps.desk.models import ChatMessage, ChatRead, ChatRoom


def chat_group(room_id: int) -> str:
    return f"chat.{room_id}"


def chat_team_room(*, team) -> ChatRoom:
    room, _created = ChatRoom.objects.get_or_create(
        team=team, defaults={"organization_id": team.organization_id, "kind": ChatRoom.Kind.TEAM}
    )
    return room


def chat_direct_room(*, user, other) -> ChatRoom:
    """The one conversation between two people of the same organization."""
    if other.organization_id != user.organization_id or other.pk == user.pk:
        raise ValidationError(_("Not found."))
    key = "-".join(str(pk) for pk in sorted((user.pk, other.pk)))
    room = ChatRoom.objects.filter(
        organization_id=user.organization_id, kind=ChatRoom.Kind.DIRECT, direct_key=key
    ).first()
    if room is not None:
        return room
    try:
        with transaction.atomic():
            room = ChatRoom.objects.create(
                organization_id=user.organization_id, kind=ChatRoom.Kind.DIRECT, direct_key=key
            )
            room.people.set([user, other])
    except IntegrityError:  # created by the other one at the same moment
        room = ChatRoom.objects.get(
            organization_id=user.organization_id, kind=ChatRoom.Kind.DIRECT, direct_key=key
        )
    return room


def chat_may_read(*, user, room: ChatRoom) -> bool:
    if room.organization_id != user.organization_id:
        return False
    if room.kind == ChatRoom.Kind.DIRECT:
        return room.people.filter(pk=user.pk).exists()
    team = room.team
    return team.members.filter(pk=user.pk).exists() or team.supervisors.filter(pk=user.pk).exists()


@transaction.atomic
def chat_post(*, room: ChatRoom, author, body: str = "", upload=None) -> ChatMessage:
    """A message (text, a file or both), pushed to every open page of the room after commit."""
    from django.utils.text import get_valid_filename

    from apps.interactions.services import attachment_check

    if not chat_may_read(user=author, room=room):
        raise ValidationError(_("Not found."))
    body = body.strip()
    if not body and upload is None:
        raise ValidationError({"body": _("Write a message or attach a file.")})
    message = ChatMessage(organization_id=room.organization_id, room=room, author=author, body=body)
    if upload is not None:
        attachment_check(upload)
        name = get_valid_filename(upload.name)[:200] or "file"
        message.filename = name
        message.file.save(name, upload, save=False)
    message.save()
    publish(
        group=chat_group(room.pk),
        event="chat.message",
        data={"room": room.pk, "message": message.pk},
    )
    chat_mark_read(room=room, user=author, at=message.created_at)
    for reader_id in chat_readers(room=room):  # their unread counts, on every page
        if reader_id != author.pk:
            publish(group=user_group(reader_id), event="chat.unread", data={"room": room.pk})
    return message


def chat_readers(*, room: ChatRoom) -> set[int]:
    """Who may read the room: a direct room's two people, a team's members and supervisors."""
    if room.kind == ChatRoom.Kind.DIRECT:
        return set(room.people.values_list("pk", flat=True))
    team = room.team
    return set(team.members.values_list("pk", flat=True)) | set(
        team.supervisors.values_list("pk", flat=True)
    )


def chat_mark_read(*, room: ChatRoom, user, at=None) -> None:
    """The user has seen the room up to ``at`` (now by default; a mark never goes back)."""
    from django.utils import timezone

    at = at or timezone.now()
    mark, created = ChatRead.objects.get_or_create(
        room=room, user=user, defaults={"organization_id": room.organization_id, "read_at": at}
    )
    if not created and mark.read_at < at:
        ChatRead.objects.filter(pk=mark.pk, read_at__lt=at).update(read_at=at)


@transaction.atomic
def follow_up_create(*, interaction, assignee, title: str, due_at, actor):
    """A follow-up for the interaction's customer; the assignee is told if it is not you."""
    from django.urls import reverse
    from django.utils import timezone

    from apps.desk.models import FollowUp
    from apps.interactions.services import event_record
    from apps.notifications.services import notification_send

    title = title.strip()
    if not title:
        raise ValidationError({"title": _("Say what is to be done.")})
    if assignee.organization_id != interaction.organization_id or not assignee.is_active:
        raise ValidationError({"assignee": _("Not found.")})
    if due_at <= timezone.now():
        raise ValidationError({"due_at": _("Choose a time in the future.")})
    follow_up = FollowUp.objects.create(
        organization_id=interaction.organization_id,
        contact_id=interaction.contact_id,
        interaction=interaction,
        assignee=assignee,
        created_by=actor,
        title=title[:200],
        due_at=due_at,
    )
    event_record(
        organization=interaction.organization,
        type="follow_up.created",
        interaction=interaction,
        actor=actor,
        data={"follow_up": follow_up.pk, "assignee": assignee.pk, "due_at": due_at.isoformat()},
    )
    if assignee.pk != actor.pk:
        notification_send(
            recipient=assignee,
            title=_("Follow-up: %(title)s") % {"title": follow_up.title},
            body=str(interaction.contact),
            url=reverse("desk-interaction", kwargs={"pk": interaction.pk}),
        )
    return follow_up


def follow_up_done(*, follow_up, actor):
    from django.utils import timezone

    if follow_up.done_at is None:
        follow_up.done_at = timezone.now()
        follow_up.save(update_fields=["done_at"])
    return follow_up
