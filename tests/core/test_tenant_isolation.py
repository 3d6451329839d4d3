"""A user of organization B can never read or change a row of organization A.

Every URL that takes an object id must have a case here: ``test_every_object_url_has_a_case``
fails when a new endpoint or page is added without joining the table.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.accounts.models import Role
from apps.core.models import TenantModel
from apps.interactions.models import RecordingPolicy
from apps.reports.models import ReportSettings
from tests.factories import (
    ContactFactory,
    DispositionFactory,
    InteractionFactory,
    NotificationFactory,
    TeamFactory,
    UserFactory,
)
from tests.integrations.factories import WebhookDeliveryFactory, WebhookEndpointFactory


@dataclass(frozen=True)
class Case:
    url_name: str
    make: Any  # (org_a, owner_a) -> object of A
    methods: tuple[str, ...] = ("get",)
    api: bool = False
    lookup: tuple[str, str] = ("pk", "pk")  # (URL keyword, attribute of the object)
    extra: tuple[tuple[str, str], ...] = ()  # other URL keywords, e.g. (("action", "accept"),)

    def url(self, obj) -> str:
        keyword, attribute = self.lookup
        return reverse(self.url_name, kwargs={keyword: getattr(obj, attribute), **dict(self.extra)})


# URLs that take an identifier but are not a row of someone else's: each says where it is tested.
EXEMPT = {
    # The id is the caller's own namespace: tests/contacts/test_api.py proves another
    # organization's contact with the same external id is never touched.
    "api:crm-contact-upsert",
    # The id is a person to write to: it answers with a redirect to the pair's room, and
    # tests/desk/test_chat.py proves another organization's person gives 404.
    "desk-chat-direct",
    # Provider webhooks: the key names a channel account, and the caller is the provider,
    # authenticated by its signature. tests/connectors/ prove a wrong or missing signature is
    # 403 with nothing stored, and an unknown or inactive key 404.
    "connectors-twilio-sms",
    "connectors-twilio-sms-status",
    "connectors-meta",
    "connectors-x",
    "connectors-fax",
    "connectors-twilio-voice",
    "connectors-twilio-voice-gather",
    "connectors-twilio-voice-wait",
    "connectors-twilio-voice-status",
    "connectors-twilio-voice-recording",
    "connectors-twilio-voice-transcription",
    "connectors-twilio-voice-recording-status",
    "connectors-twilio-voice-client",
    # The simulated provider's REST API: the caller authenticates with a number's account SID
    # and auth token and only sees that number's organization's calls and conferences
    # (tests/voicesim/test_simulator.py proves a wrong token is 401 and another organization's
    # call 404).
    "voicesim-api-calls",
    "voicesim-api-call",
    "voicesim-api-conferences",
    "voicesim-api-participants",
    "voicesim-api-participant",
    # Its Recordings subset, the same way (tests/voicesim/test_recording.py).
    "voicesim-api-call-recordings",
    "voicesim-api-call-recording",
    "voicesim-api-recordings",
    "voicesim-api-recording",
    # A signed, expiring link a provider fetches a file we send by (tests/connectors/test_admin.py
    # proves a forged or expired token is 404).
    "connectors-media",
    # A signed, expiring link to a voicemail's audio (tests/connectors/test_voicemail.py proves
    # a tampered or expired one is 404); the simulator's recording it streams answers only the
    # number's account SID and token (tests/voicesim/test_followme.py: without them, 401).
    "voicemail-audio",
    # The chat widget: the key names a public widget, the caller is an anonymous visitor known
    # by their token. tests/connectors/test_webchat.py proves a visitor of one organization's
    # widget sees nothing through another's key (history, files), an unknown or inactive key
    # is 404, and a forged file link 404.
    "webchat-script",
    "webchat-config",
    "webchat-start",
    "webchat-history",
    "webchat-upload",
    "webchat-offline",
    "webchat-transcript",
    "webchat-file",
    "webchat-demo",
}


def _team(org, owner):
    return TeamFactory(organization=org)


def _user(org, owner):
    return UserFactory(organization=org, roles=[Role.AGENT])


def _notification(org, owner):
    return NotificationFactory(recipient=owner)


def _webhook_endpoint(org, owner):
    return WebhookEndpointFactory(organization=org)


def _webhook_delivery(org, owner):
    return WebhookDeliveryFactory(endpoint__organization=org)


def _contact(org, owner):
    return ContactFactory(
        organization=org, first_name="Secretive", last_name=f"{org.slug}-customer"
    )


def _interaction(org, owner):
    return InteractionFactory(contact=_contact(org, owner), subject=f"{org.slug} private matter")


def _recording(org, owner):
    from tests.interactions.factories import RecordingFactory

    return RecordingFactory(interaction=_interaction(org, owner))


def _sim_call(org, owner):
    from apps.connectors.models import ChannelAccount
    from apps.voicesim.models import SimCall

    account = ChannelAccount.objects.create(
        organization=org, kind="voice", name="Line", address=f"+1555010{org.pk % 10}"
    )
    return SimCall.objects.create(
        organization=org,
        account=account,
        sid=f"CA{org.pk:032d}",
        from_number="+14155550123",
        to_number=account.address,
        status="in-progress",
        base="http://localhost",
        in_process=True,
        heard=[{"kind": "say", "text": f"{org.slug} secret", "at": ""}],
    )


def _attachment(org, owner):
    from django.core.files.base import ContentFile

    from apps.interactions.models import Attachment
    from tests.factories import MessageFactory

    message = MessageFactory(interaction=_interaction(org, owner))
    attachment = Attachment(organization=org, message=message, filename="a.pdf", size=3)
    attachment.file.save("a.pdf", ContentFile(b"pdf"), save=False)
    attachment.save()
    return attachment


def _chat_room(org, owner):
    from apps.desk.services import chat_team_room

    team = _team(org, owner)
    team.members.add(owner)
    return chat_team_room(team=team)


def _chat_file(org, owner):
    from django.core.files.base import ContentFile

    from apps.desk.models import ChatMessage

    message = ChatMessage(
        organization=org, room=_chat_room(org, owner), author=owner, filename="rota.pdf"
    )
    message.file.save("rota.pdf", ContentFile(b"pdf"), save=False)
    message.save()
    return message


def _follow_up(org, owner):
    from datetime import timedelta

    from django.utils import timezone

    from apps.desk.models import FollowUp

    interaction = _interaction(org, owner)
    return FollowUp.objects.create(
        organization=org,
        contact=interaction.contact,
        interaction=interaction,
        assignee=owner,
        title="Send the contract",
        due_at=timezone.now() + timedelta(days=1),
    )


def _participant(org, owner):
    from apps.interactions.models import Participant

    return Participant.objects.create(
        organization=org,
        interaction=_interaction(org, owner),
        agent=_user(org, owner),
        invited_by=owner,
    )


def _channel_account(org, owner):
    from apps.connectors.models import ChannelAccount

    return ChannelAccount.objects.create(organization=org, kind="sms", name=f"{org.slug} SMS")


def _outbound(org, owner):
    from apps.connectors.models import Outbound
    from apps.interactions.models import Message

    interaction = _interaction(org, owner)
    message = Message.objects.create(
        organization=org,
        interaction=interaction,
        channel="sms",
        direction="outbound",
        author_kind="agent",
        body="Hi",
        delivery_status="queued",
    )
    return Outbound.objects.create(
        organization=org, message=message, account=_channel_account(org, owner), to="+1"
    )


def _canned(org, owner):
    from apps.interactions.models import CannedResponse

    return CannedResponse.objects.create(
        organization=org, title=f"{org.slug} greeting", shortcut="hello", body="Hello"
    )


def _waiting_interaction(org, owner):
    interaction = _interaction(org, owner)
    interaction.state, interaction.queue = "queued", _queue(org, owner)
    interaction.save()
    return interaction


def _queue(org, owner):
    from tests.factories import QueueFactory

    return QueueFactory(organization=org, name=f"{org.slug} queue")


def _alert_rule(org, owner):
    from apps.reports.models import AlertRule

    return AlertRule.objects.create(
        organization=org, name="Alpha alert", metric="waiting", threshold=5
    )


def _skill(org, owner):
    from apps.queues.models import Skill

    return Skill.objects.create(organization=org, name=f"{org.slug} skill")


def _reason(org, owner):
    from apps.queues.models import ReasonCode

    return ReasonCode.objects.create(organization=org, status="away", name=f"{org.slug} reason")


def _presence(org, owner):
    from apps.queues.services import presence_get

    return presence_get(agent=owner)


def _offer(org, owner):
    from datetime import timedelta

    from django.utils import timezone

    from apps.queues.models import Offer

    return Offer.objects.create(
        organization=org,
        interaction=_interaction(org, owner),
        agent=owner,
        expires_at=timezone.now() + timedelta(minutes=5),
    )


def _callback(org, owner):
    from django.utils import timezone

    from apps.queues.models import Callback

    return Callback.objects.create(
        organization=org,
        contact=_contact(org, owner),
        queue=_queue(org, owner),
        number="+14155552671",
        scheduled_for=timezone.now(),
    )


def _rule(org, owner):
    from apps.queues.models import RoutingRule

    return RoutingRule.objects.create(organization=org, name=f"{org.slug} rule")


def _disposition(org, owner):
    return DispositionFactory(organization=org, name=f"{org.slug} outcome")


def _export_job(org, owner):
    from django.core.files.base import ContentFile

    from apps.reports.models import ExportJob

    job = ExportJob(
        organization=org,
        requested_by=owner,
        kind="report",
        file_format="csv",
        status="done",
        filename="report.csv",
    )
    job.file.save("report.csv", ContentFile(b"Group\r\n"), save=True)
    return job


def _report_subscription(org, owner):
    from apps.reports.models import ReportSubscription

    return ReportSubscription.objects.create(organization=org, user=owner, name="Alpha daily")


OBJECT_CASES = [
    Case("desk-offer-accept", _offer, methods=("post",)),
    Case("desk-offer-reject", _offer, methods=("post",)),
    Case("desk-interaction", _interaction),
    Case("desk-reply", _interaction, methods=("post",)),
    Case("desk-close", _interaction, methods=("post",)),
    Case("desk-transfer", _interaction, methods=("post",)),
    Case("desk-contact", _contact, methods=("get", "post")),
    Case("desk-contact-call", _contact, methods=("post",)),
    Case("desk-hold", _interaction, methods=("post",)),
    Case("desk-mute", _interaction, methods=("post",)),
    Case("desk-callback", _interaction, methods=("post",)),
    Case("desk-tags", _interaction, methods=("post",)),
    Case("desk-block", _interaction, methods=("post",)),
    Case("desk-note", _interaction, methods=("post",)),
    Case("webchat-agent-typing", _interaction, methods=("post",)),
    Case("desk-follow-up-create", _interaction, methods=("post",)),
    Case("desk-consult", _interaction, methods=("post",)),
    Case("desk-video", _interaction, methods=("post",)),
    Case("desk-template", _interaction, methods=("post",)),
    *[
        Case("desk-participant", _participant, methods=("post",), extra=(("action", action),))
        for action in ("accept", "decline", "conference", "take-over", "end")
    ],
    Case("desk-follow-up-done", _follow_up, methods=("post",)),
    Case("voicesim-call", _sim_call),
    Case("voicesim-panel", _sim_call),
    *[
        Case("voicesim-call-action", _sim_call, methods=("post",), extra=(("action", action),))
        for action in ("keys", "speak", "record", "hangup", "answer", "decline", "say")
    ],
    *[
        Case("voicesim-phone-action", _sim_call, methods=("post",), extra=(("action", action),))
        for action in ("answer", "reject", "hangup")
    ],
    Case("desk-canned", _interaction),
    Case("desk-attachment", _attachment),
    Case("desk-recording-audio", lambda o, owner: _recording(o, owner)),
    Case("desk-recording-tags", lambda o, owner: _recording(o, owner), methods=("post",)),
    Case(
        "desk-recording-control",
        _interaction,
        methods=("post",),
        extra=(("action", "start"),),
    ),
    Case("desk-chat-room", _chat_room),
    Case("desk-chat-post", _chat_room, methods=("post",)),
    Case("desk-chat-file", _chat_file),
    Case("desk-supervisor-presence", _user, methods=("post",)),
    Case("desk-supervisor-assign", _interaction, methods=("post",)),
    Case("desk-supervisor-monitor", _interaction, methods=("post",)),
    Case("reports-export-download", _export_job),
    Case("reports-unsubscribe", _report_subscription, methods=("post",)),
    Case("notification-detail", _notification),
    Case("notification-read", _notification, methods=("post",)),
    Case("api:user-detail", _user, api=True),
    Case("api:team-detail", _team, methods=("get", "put", "patch", "delete"), api=True),
    Case("api:notification-detail", _notification, api=True),
    Case("api:notification-read", _notification, methods=("post",), api=True),
    Case(
        "api:webhook-detail", _webhook_endpoint, methods=("get", "put", "patch", "delete"), api=True
    ),
    Case("api:webhook-delivery-detail", _webhook_delivery, api=True),
    Case("api:webhook-delivery-retry", _webhook_delivery, methods=("post",), api=True),
    Case("api:contact-detail", _contact, methods=("get", "put", "patch"), api=True),
    Case("api:contact-timeline", _contact, api=True),
    Case("api:contact-identities", _contact, methods=("post",), api=True),
    Case("api:contact-notes", _contact, methods=("get", "post"), api=True),
    Case("api:contact-consents", _contact, methods=("get", "post"), api=True),
    Case("api:contact-duplicates", _contact, api=True),
    Case("api:contact-merge", _contact, methods=("post",), api=True),
    Case("api:interaction-detail", _interaction, api=True),
    Case("api:interaction-transition", _interaction, methods=("post",), api=True),
    Case("api:interaction-close", _interaction, methods=("post",), api=True),
    Case("api:interaction-messages", _interaction, methods=("get", "post"), api=True),
    Case("api:interaction-notes", _interaction, methods=("get", "post"), api=True),
    Case("api:interaction-screen-pop", _interaction, api=True),
    Case(
        "api:disposition-detail", _disposition, methods=("get", "put", "patch", "delete"), api=True
    ),
    Case("api:interaction-enqueue", _interaction, methods=("post",), api=True),
    Case("api:interaction-assign", _interaction, methods=("post",), api=True),
    Case("api:interaction-move", _interaction, methods=("post",), api=True),
    Case("api:interaction-queue-position", _interaction, api=True),
    Case("api:queue-detail", _queue, methods=("get", "put", "patch", "delete"), api=True),
    Case("api:queue-stats", _queue, api=True),
    Case("api:skill-detail", _skill, methods=("get", "put", "patch", "delete"), api=True),
    Case("api:reason-code-detail", _reason, methods=("get", "put", "patch", "delete"), api=True),
    Case("api:presence-detail", _presence, api=True, lookup=("agent", "agent_id")),
    Case(
        "api:presence-set-status",
        _presence,
        methods=("post",),
        api=True,
        lookup=("agent", "agent_id"),
    ),
    Case("api:offer-detail", _offer, api=True),
    Case("api:offer-accept", _offer, methods=("post",), api=True),
    Case("api:offer-reject", _offer, methods=("post",), api=True),
    Case("api:callback-detail", _callback, api=True),
    Case("api:routing-rule-detail", _rule, methods=("get", "put", "patch", "delete"), api=True),
]

LIST_CASES = [
    # (url name, object maker, how the object shows in the response)
    ("notification-list", _notification, lambda obj: obj.title),
    ("desk-contacts", _contact, lambda obj: obj.last_name),
    ("desk-supervisor", _waiting_interaction, lambda obj: f'data-interaction="{obj.pk}"'),
    ("reports-wallboard", _queue, lambda obj: f'data-row="queue-{obj.pk}"'),
    ("api:user-list", _user, lambda obj: obj.username),
    ("api:team-list", _team, lambda obj: obj.name),
    ("api:notification-list", _notification, lambda obj: obj.title),
    ("api:webhook-list", _webhook_endpoint, lambda obj: obj.name),
    ("api:webhook-delivery-list", _webhook_delivery, lambda obj: str(obj.event_id)),
    ("api:contact-list", _contact, lambda obj: obj.last_name),
    ("api:interaction-list", _interaction, lambda obj: obj.subject),
    ("api:disposition-list", _disposition, lambda obj: obj.name),
    ("api:queue-list", _queue, lambda obj: obj.name),
    ("api:skill-list", _skill, lambda obj: obj.name),
    ("api:reason-code-list", _reason, lambda obj: obj.name),
    ("api:presence-list", _presence, lambda obj: f'"agent":{obj.agent_id},'),
    ("api:offer-list", _offer, lambda obj: f'"id":{obj.pk},'),
    ("api:callback-list", _callback, lambda obj: f'"id":{obj.pk},'),
    ("api:routing-rule-list", _rule, lambda obj: obj.name),
]


def _url_names(patterns=None, namespace="", with_object_id=False):
    """Every URL name (``ns:name``); with_object_id keeps those that take an object id."""
    names = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            if with_object_id and ns == "admin":  # the admin is checked separately below
                continue
            prefix = f"{namespace}{ns}:" if ns else namespace
            names |= _url_names(entry.url_patterns, prefix, with_object_id)
        elif (
            isinstance(entry, URLPattern)
            and entry.name
            and (not with_object_id or set(entry.pattern.regex.groupindex) - {"format"})
        ):
            names.add(f"{namespace}{entry.name}")
    return names


def test_every_object_url_has_a_case():
    assert _url_names(with_object_id=True) - {c.url_name for c in OBJECT_CASES} - EXEMPT == set()


def test_every_api_list_has_a_case():
    api_lists = {n for n in _url_names() if n.startswith("api:") and n.endswith("-list")}
    assert api_lists - {name for name, _, _ in LIST_CASES} == set()


@pytest.fixture
def owner_a(admin_a):
    return admin_a


@pytest.mark.parametrize(
    ("case", "method"),
    [(c, m) for c in OBJECT_CASES for m in c.methods],
    ids=lambda v: v.url_name if isinstance(v, Case) else v,
)
def test_other_organization_gets_404(case, method, org_a, owner_a, admin_b, client, api_client):
    obj = case.make(org_a, owner_a)
    url = case.url(obj)
    if case.api:
        api_client.force_authenticate(admin_b)
        response = getattr(api_client, method)(url, {}, format="json")
    else:
        client.force_login(admin_b)
        response = getattr(client, method)(url)
    assert response.status_code == 404
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize(
    ("case", "method"),
    [(c, m) for c in OBJECT_CASES for m in c.methods if m == "get"],
    ids=lambda v: v.url_name if isinstance(v, Case) else v,
)
def test_own_organization_gets_the_row(case, method, org_a, owner_a, client, api_client):
    """The same URLs work for the owner: the 404 above is isolation, not a broken URL."""
    obj = case.make(org_a, owner_a)
    url = case.url(obj)
    if case.api:
        api_client.force_authenticate(owner_a)
        response = api_client.get(url)
    else:
        client.force_login(owner_a)
        response = client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("url_name", "make", "shown"), LIST_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_listing_never_shows_other_organization(
    url_name, make, shown, org_a, owner_a, admin_b, client, api_client
):
    mine = make(admin_b.organization, admin_b)
    theirs = make(org_a, owner_a)
    url = reverse(url_name)
    if url_name.startswith("api:"):
        api_client.force_authenticate(admin_b)
        body = api_client.get(url).content.decode()
    else:
        client.force_login(admin_b)
        body = client.get(url).content.decode()
    assert shown(mine) in body
    assert shown(theirs) not in body


TENANT_ADMINS = [model for model in admin.site._registry if issubclass(model, TenantModel)]


def _admin_object(model, org, owner):
    from apps.campaigns.models import Campaign
    from apps.connectors.models import InboundEvent, MailboxState
    from apps.flows.models import Flow, FlowVersion
    from apps.interactions.services import event_record
    from apps.queues.models import AgentSkill, BusinessHours
    from apps.reports.models import AlertIncident, WallboardThreshold
    from tests.factories import (
        ApiKeyFactory,
        CompanyFactory,
        ContactFieldFactory,
        IdentityFactory,
        QueueFactory,
        TagFactory,
    )

    makers = {
        "CannedResponse": _canned,
        "FollowUp": _follow_up,
        "ChannelAccount": _channel_account,
        "InboundEvent": lambda o, owner: InboundEvent.objects.create(
            organization=o,
            account=_channel_account(o, owner),
            kind="message",
            external_id="SM1",
            payload={},
        ),
        "Outbound": _outbound,
        "MailboxState": lambda o, owner: MailboxState.objects.create(
            organization=o, account=_channel_account(o, owner)
        ),
        "ChatRoom": _chat_room,
        "ChatMessage": _chat_file,
        "Team": _team,
        "Notification": _notification,
        "ApiKey": lambda o, _: ApiKeyFactory(organization=o),
        "AgentProfile": lambda o, _: _user(o, _).agent_profile,
        "WebhookEndpoint": _webhook_endpoint,
        "WebhookDelivery": _webhook_delivery,
        "Contact": _contact,
        "Company": lambda o, _: CompanyFactory(organization=o),
        "Tag": lambda o, _: TagFactory(organization=o),
        "ContactField": lambda o, _: ContactFieldFactory(organization=o),
        "Identity": lambda o, _: IdentityFactory(contact=_contact(o, _)),
        "Interaction": _interaction,
        "Recording": _recording,
        "RecordingPolicy": lambda o, _: RecordingPolicy.objects.create(organization=o),
        "ReportSettings": lambda o, _: ReportSettings.objects.create(organization=o),
        "Disposition": _disposition,
        "Event": lambda o, _: event_record(organization=o, type="test.event"),
        "Queue": lambda o, _: QueueFactory(organization=o),
        "Flow": lambda o, _: Flow.objects.create(organization=o, name="Alpha IVR"),
        "FlowVersion": lambda o, _: FlowVersion.objects.create(
            organization=o, flow=Flow.objects.create(organization=o, name="Alpha IVR"), number=1
        ),
        "Campaign": lambda o, _: Campaign.objects.create(organization=o, name="Alpha calls"),
        "Skill": _skill,
        "AgentSkill": lambda o, owner: AgentSkill.objects.create(
            organization=o, agent=owner, skill=_skill(o, owner)
        ),
        "ReasonCode": _reason,
        "Presence": _presence,
        "Offer": _offer,
        "Callback": _callback,
        "RoutingRule": _rule,
        "ExportJob": _export_job,
        "ReportSubscription": _report_subscription,
        "BusinessHours": lambda o, _: BusinessHours.objects.create(
            organization=o, name="Alpha hours"
        ),
        "WallboardThreshold": lambda o, _: WallboardThreshold.objects.create(
            organization=o, metric="waiting", warning=3, critical=6
        ),
        "AlertRule": _alert_rule,
        "AlertIncident": lambda o, owner: AlertIncident.objects.create(
            organization=o, rule=_alert_rule(o, owner), value=7
        ),
    }
    return makers[model.__name__](org, owner)


@pytest.mark.parametrize("model", TENANT_ADMINS, ids=lambda m: m.__name__)
def test_admin_hides_other_organization_rows(model, org_a, owner_a, admin_b, client):
    if model.__name__ == "Subscription":
        obj = org_a.subscription
    else:
        obj = _admin_object(model, org_a, owner_a)
    client.force_login(admin_b)
    opts = model._meta
    change = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert change.status_code in (302, 403)  # redirect "does not exist", or no permission at all
    changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    if changelist.status_code == 200:
        assert changelist.context["cl"].queryset.filter(pk=obj.pk).count() == 0


def test_admin_user_list_is_scoped(org_a, owner_a, admin_b, client):
    client.force_login(admin_b)
    response = client.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 200
    usernames = {u.username for u in response.context["cl"].queryset}
    assert admin_b.username in usernames
    assert owner_a.username not in usernames
    change = client.get(reverse("admin:accounts_user_change", args=[owner_a.pk]))
    assert change.status_code == 302


def test_admin_organization_is_scoped(org_a, admin_b, client):
    client.force_login(admin_b)
    response = client.get(reverse("admin:accounts_organization_change", args=[org_a.pk]))
    assert response.status_code == 302
