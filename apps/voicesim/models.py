"""The simulated provider's calls: what each one heard, what it waits for, where it is."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import TenantModel


class SimCall(TenantModel):
    """One simulated call leg: a person dialling a number of ours (inbound), or a leg our
    system placed through the REST API (an agent's, a callback)."""

    class Status(models.TextChoices):
        RINGING = "ringing", _("Ringing")
        IN_PROGRESS = "in-progress", _("In progress")
        COMPLETED = "completed", _("Completed")

    account = models.ForeignKey(
        "connectors.ChannelAccount", on_delete=models.CASCADE, related_name="+"
    )
    sid = models.CharField(max_length=34, unique=True)
    direction = models.CharField(max_length=12, default="inbound")
    from_number = models.CharField(max_length=64)
    to_number = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RINGING)
    base = models.CharField(max_length=200, help_text=_("Where the webhooks are (an origin)."))
    in_process = models.BooleanField(default=False)
    doc_url = models.CharField(max_length=500, blank=True)
    status_callback = models.CharField(max_length=500, blank=True)
    heard = models.JSONField(default=list, blank=True)
    waiting = models.JSONField(default=dict, blank=True)
    conference = models.CharField(max_length=100, blank=True)
    hold = models.BooleanField(default=False)
    # A conference participant's audio, as Twilio's Participant resource has it: a muted one
    # is heard by nobody; a coaching one only by the participant whose call is ``coaching``.
    muted = models.BooleanField(default=False)
    coaching = models.CharField(
        max_length=34, blank=True, help_text=_("The CallSid this participant coaches.")
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_number} → {self.to_number} ({self.status})"

    @property
    def label(self) -> str:
        """Who this leg is, for a person: "client:alice" is the agent alice; an inbound call
        is its caller."""
        if self.direction == "inbound":
            return self.from_number
        return self.to_number.removeprefix("client:")

    @property
    def texts(self) -> list[str]:
        return [line["text"] for line in self.heard]


class SimRecording(TenantModel):
    """A recording the simulated provider makes of a call (``<Start><Recording>`` or the
    Recordings REST resource). ``content`` is what the recording captured, in order: what the
    caller heard, said and pressed while it was in progress, and nothing while it was paused,
    so tests can prove a card number never reached it."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in-progress", _("In progress")
        PAUSED = "paused", _("Paused")
        STOPPED = "stopped", _("Stopped")
        COMPLETED = "completed", _("Completed")

    call = models.ForeignKey(SimCall, on_delete=models.CASCADE, related_name="recordings")
    sid = models.CharField(max_length=34, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    channels = models.PositiveSmallIntegerField(default=1)
    source = models.CharField(max_length=30, default="StartCallRecordingAPI")
    status_callback = models.CharField(max_length=500, blank=True)
    status_callback_events = models.CharField(max_length=100, blank=True)
    pause_behavior = models.CharField(max_length=10, default="silence")
    content = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.sid} ({self.status})"

    @property
    def duration(self) -> int:
        end = self.ended_at or timezone.now()
        return max(1, round((end - self.started_at).total_seconds()))

    @property
    def texts(self) -> list[str]:
        return [part["text"] for part in self.content]


class SimPhone(TenantModel):
    """A desk's simulated softphone, registered while the agent's desk is open: a leg dialled
    to ``client:<identity>`` rings there (to be answered in the browser) instead of being
    answered at once by the simulator."""

    identity = models.CharField(max_length=100)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "identity"], name="simphone_unique")
        ]

    def __str__(self) -> str:
        return f"client:{self.identity}"
