"""Team chat between the people of an organization: a room per team and direct conversations."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel


class ChatRoom(TenantModel):
    """A team's room (its members and supervisors talk there) or a direct conversation
    between two people (``direct_key`` = their ids, smaller first: one room per pair)."""

    class Kind(models.TextChoices):
        TEAM = "team", _("Team")
        DIRECT = "direct", _("Direct")

    kind = models.CharField(max_length=6, choices=Kind.choices)
    team = models.OneToOneField(
        "accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="chat_room"
    )
    direct_key = models.CharField(max_length=40, blank=True)
    people = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "direct_key"],
                condition=models.Q(kind="direct"),
                name="chatroom_one_per_pair",
            )
        ]

    def __str__(self) -> str:
        return self.team.name if self.team_id else f"direct {self.direct_key}"


def chat_file_path(instance, filename: str) -> str:
    return f"chat/{instance.organization_id}/{uuid.uuid4().hex}/{filename}"


class ChatMessage(TenantModel):
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField(blank=True)
    file = models.FileField(upload_to=chat_file_path, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:50] or self.filename


class ChatRead(TenantModel):
    """Up to when a person has read a room: what came after is unread for them."""

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="chatread_unique")]

    def __str__(self) -> str:
        return f"{self.user} read {self.room} at {self.read_at:%Y-%m-%d %H:%M}"


class FollowUp(TenantModel):
    """Something to do later for a customer ("send the contract", "call back after the
    repair"), given to an agent with a due time."""

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="follow_ups"
    )
    interaction = models.ForeignKey(
        "interactions.Interaction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follow_ups"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["assignee", "done_at", "due_at"])]

    def __str__(self) -> str:
        return self.title
