"""The agent desk pages: presence, offers, the conversation, reply and close."""

import pytest
from django.urls import reverse

from apps.interactions.models import Event, Message, State
from apps.queues import services
from apps.queues.models import Offer, Presence, PresenceStatus, QueueMember, ReasonCode
from tests.factories import (
    ContactFactory,
    DispositionFactory,
    InteractionFactory,
    QueueFactory,
    agent_in_queue,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def queue(org_a):
    return QueueFactory(organization=org_a, name="Support")


@pytest.fixture
def offered(queue, agent_a):
    """A chat offered to agent_a, who is an available member of the queue."""
    QueueMember.objects.create(organization=queue.organization, queue=queue, agent=agent_a)
    services.presence_set(agent=agent_a, status=PresenceStatus.AVAILABLE)
    contact = ContactFactory(organization=queue.organization, first_name="Ada", last_name="Byron")
    interaction = InteractionFactory(contact=contact, channel="webchat", subject="Billing")
    services.interaction_enqueue(interaction=interaction, queue=queue)
    interaction.refresh_from_db()
    assert interaction.state == State.OFFERED
    return Offer.objects.get(interaction=interaction, agent=agent_a)


def test_desk_shows_status_and_the_ringing_offer(login, offered, agent_a):
    client = login(agent_a)
    body = client.get(reverse("desk")).content.decode()
    assert 'data-testid="presence-status">Available' in body
    assert "Ada Byron" in body and "Billing" in body
    assert reverse("desk-offer-accept", args=[offered.pk]) in body
    assert "/ws/live/?desk=1" in body


def test_desk_keeps_a_bounded_number_of_queries(
    login, queue, agent_a, django_assert_max_num_queries
):
    QueueMember.objects.create(organization=queue.organization, queue=queue, agent=agent_a)
    services.presence_set(agent=agent_a, status=PresenceStatus.AVAILABLE)
    agent_a.agent_profile.capacity = {"chat": 20}
    agent_a.agent_profile.save()
    for _ in range(12):
        services.interaction_enqueue(
            interaction=InteractionFactory(
                contact__organization=queue.organization, channel="webchat"
            ),
            queue=queue,
        )
    client = login(agent_a)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("desk"))
    assert response.content.decode().count('data-testid="accept"') == 12


def test_presence_change_with_a_reason_is_recorded_and_rerendered(login, agent_a, org_a):
    lunch = ReasonCode.objects.create(organization=org_a, status=PresenceStatus.LUNCH, name="Break")
    client = login(agent_a)
    response = client.post(
        reverse("desk-presence"), {"status": PresenceStatus.LUNCH, "reason": lunch.pk}, **HTMX
    )
    assert response.status_code == 200
    assert "Break" in response.content.decode()
    presence = Presence.objects.get(agent=agent_a)
    assert (presence.status, presence.reason_id) == (PresenceStatus.LUNCH, lunch.pk)
    assert Event.objects.filter(type="presence.changed", data__to=PresenceStatus.LUNCH).exists()


def test_a_reason_of_another_status_is_refused_with_a_message(login, agent_a, org_a):
    meeting = ReasonCode.objects.create(organization=org_a, status="meeting", name="Standup")
    client = login(agent_a)
    response = client.post(
        reverse("desk-presence"), {"status": PresenceStatus.AWAY, "reason": meeting.pk}, **HTMX
    )
    assert response.status_code == 400
    assert "does not go with this status" in response.content.decode()
    assert Presence.objects.get(agent=agent_a).status != PresenceStatus.AWAY


def test_accepting_opens_the_conversation(login, offered, agent_a):
    client = login(agent_a)
    response = client.post(reverse("desk-offer-accept", args=[offered.pk]), **HTMX)
    assert response.status_code == 204
    target = reverse("desk-interaction", args=[offered.interaction_id])
    assert response["HX-Redirect"] == target
    offered.refresh_from_db()
    assert offered.status == Offer.Status.ACCEPTED
    body = client.get(target).content.decode()
    assert 'data-testid="screen-pop"' in body and "Ada Byron" in body
    assert 'data-testid="interaction-state">Active' in body


def test_declining_puts_it_back_for_someone_else(login, offered, agent_a, queue):
    other = agent_in_queue(queue)
    client = login(agent_a)
    response = client.post(reverse("desk-offer-reject", args=[offered.pk]), **HTMX)
    assert response.status_code == 200
    assert "Nothing is ringing" in response.content.decode()
    offered.refresh_from_db()
    assert offered.status == Offer.Status.REJECTED
    assert Offer.objects.get(status=Offer.Status.PENDING).agent_id == other.pk


def test_an_offer_made_to_a_colleague_cannot_be_taken(login, offered, queue, org_a):
    colleague = agent_in_queue(queue)
    client = login(colleague)
    assert client.post(reverse("desk-offer-accept", args=[offered.pk])).status_code == 404
    offered.refresh_from_db()
    assert offered.status == Offer.Status.PENDING


def test_an_agent_sees_only_their_conversations_a_supervisor_any(
    login, offered, queue, supervisor_a
):
    url = reverse("desk-interaction", args=[offered.interaction_id])
    colleague = agent_in_queue(queue)
    assert login(colleague).get(url).status_code == 404
    assert login(supervisor_a).get(url).status_code == 200


def test_reply_stores_an_outbound_message_and_an_empty_one_is_refused(login, offered, agent_a):
    client = login(agent_a)
    services.offer_accept(offer=offered, agent=agent_a)
    url = reverse("desk-reply", args=[offered.interaction_id])
    response = client.post(url, {"body": "  "}, **HTMX)
    assert response.status_code == 400
    assert not Message.objects.exists()
    response = client.post(url, {"body": "Hello Ada, how can I help?"}, **HTMX)
    assert response.status_code == 200
    message = Message.objects.get()
    assert (message.direction, message.author_id) == ("outbound", agent_a.pk)
    assert "Hello Ada, how can I help?" in response.content.decode()


def test_close_needs_an_outcome_then_closes(login, offered, agent_a, org_a):
    resolved = DispositionFactory(organization=org_a, name="Resolved")
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    url = reverse("desk-close", args=[offered.interaction_id])
    response = client.post(url, {"disposition": ""}, **HTMX)
    assert response.status_code == 400
    assert "Choose how it ended" in response.content.decode()
    offered.interaction.refresh_from_db()
    assert offered.interaction.state == State.ACTIVE
    response = client.post(url, {"disposition": resolved.pk, "notes": "ok"}, **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("desk")
    offered.interaction.refresh_from_db()
    assert offered.interaction.state == State.CLOSED
    assert offered.interaction.disposition_id == resolved.pk


def test_the_platform_operator_has_no_desk(client, django_user_model):
    operator = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(operator)
    assert client.get(reverse("desk")).status_code == 404


def test_transfer_to_a_colleague_from_the_conversation(login, offered, agent_a, queue):
    colleague = agent_in_queue(queue)
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    url = reverse("desk-transfer", args=[offered.interaction_id])
    page = client.get(reverse("desk-interaction", args=[offered.interaction_id])).content.decode()
    assert f'value="agent:{colleague.pk}"' in page and f'value="queue:{queue.pk}"' in page
    response = client.post(url, {"to": "agent:999999"}, **HTMX)
    assert response.status_code == 400
    assert "Choose a colleague or a queue" in response.content.decode()
    response = client.post(url, {"to": f"agent:{colleague.pk}", "note": "Over to you"}, **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("desk")
    assert Offer.objects.get(status=Offer.Status.PENDING).agent_id == colleague.pk
    colleague_page = login(colleague).get(
        reverse("desk-interaction", args=[offered.interaction_id])
    )
    assert "Over to you" in colleague_page.content.decode()


def test_hold_and_resume(login, offered, agent_a):
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    url = reverse("desk-hold", args=[offered.interaction_id])
    response = client.post(url, {"to": "on_hold"}, **HTMX)
    assert 'data-testid="resume"' in response.content.decode()
    offered.interaction.refresh_from_db()
    assert offered.interaction.state == State.ON_HOLD
    client.post(url, {"to": "active"}, **HTMX)
    offered.interaction.refresh_from_db()
    assert offered.interaction.state == State.ACTIVE
    assert client.post(url, {"to": "closed"}, **HTMX).status_code == 400


def test_schedule_a_callback_in_the_agents_time_zone(login, offered, agent_a):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from apps.queues.models import Callback

    agent_a.time_zone = "America/New_York"
    agent_a.save()
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    url = reverse("desk-callback", args=[offered.interaction_id])
    response = client.post(url, {"at": "2001-01-01T10:00", "number": "+14155552671"}, **HTMX)
    assert response.status_code == 400 and "in the future" in response.content.decode()
    local = (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=1)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    response = client.post(
        url, {"at": local.strftime("%Y-%m-%dT%H:%M"), "number": "+1 415 555 2671"}, **HTMX
    )
    assert response.status_code == 200
    callback = Callback.objects.get()
    assert callback.scheduled_for == local  # 9:30 in New York, whatever the server's zone
    assert callback.number == "+14155552671" and callback.origin_id == offered.interaction_id


def test_tags_are_set_from_the_conversation(login, offered, agent_a):
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    client.post(
        reverse("desk-tags", args=[offered.interaction_id]), {"tags": "refund, vip , "}, **HTMX
    )
    assert sorted(offered.interaction.tags.values_list("name", flat=True)) == ["refund", "vip"]


def test_a_canned_response_fills_the_composer_for_this_customer(login, offered, agent_a, org_a):
    from apps.interactions.models import CannedResponse

    agent_a.first_name = "Sam"
    agent_a.save()
    services.offer_accept(offer=offered, agent=agent_a)
    greeting = CannedResponse.objects.create(
        organization=org_a,
        title="Greeting",
        shortcut="hello",
        body="Hello {{ contact.first_name }}, {{agent.first_name}} from {{ organization.name }}."
        " {{ contact.custom_fields }} {{ agent.password }}",
    )
    client = login(agent_a)
    page = client.get(reverse("desk-interaction", args=[offered.interaction_id])).content.decode()
    assert "Greeting (/hello)" in page
    response = client.get(
        reverse("desk-canned", args=[offered.interaction_id]), {"response": greeting.pk}, **HTMX
    )
    body = response.content.decode()
    assert f"Hello Ada, Sam from {org_a.name}." in body
    # Only the listed variables are filled: nothing else of the objects can leak.
    assert "{{ contact.custom_fields }} {{ agent.password }}" in body


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_MAX_BYTES = 1024
    return tmp_path


def test_files_are_attached_and_downloaded_by_who_may_open_the_conversation(
    login, offered, agent_a, queue, media
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.interactions.models import Attachment

    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    url = reverse("desk-reply", args=[offered.interaction_id])
    invoice = SimpleUploadedFile("invoice march.pdf", b"%PDF-1.4 tiny", "application/pdf")
    response = client.post(url, {"body": "", "files": [invoice]}, **HTMX)
    assert response.status_code == 200
    attachment = Attachment.objects.get()
    assert (attachment.filename, attachment.content_type) == (
        "invoice_march.pdf",
        "application/pdf",
    )
    download = reverse("desk-attachment", args=[attachment.pk])
    assert download in response.content.decode()
    got = client.get(download)
    assert got.status_code == 200 and b"".join(got.streaming_content) == b"%PDF-1.4 tiny"
    assert "attachment" in got["Content-Disposition"]
    assert login(agent_in_queue(queue)).get(download).status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("big.pdf", b"x" * 2048, "Files up to"),
        ("page.html", b"<script>alert(1)</script>", "cannot be attached"),
        ("setup.exe", b"MZ", "cannot be attached"),
    ],
)
def test_a_refused_file_stores_nothing(login, offered, agent_a, media, name, content, error):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.interactions.models import Attachment

    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    upload = SimpleUploadedFile(name, content, "application/pdf")  # the claimed type is ignored
    response = client.post(
        reverse("desk-reply", args=[offered.interaction_id]),
        {"body": "see attached", "files": [upload]},
        **HTMX,
    )
    assert response.status_code == 400 and error in response.content.decode()
    assert not Message.objects.exists() and not Attachment.objects.exists()
    assert not list(media.rglob("*.*"))


def test_panels_an_agent_keeps_on_top_are_saved_for_them(login, offered, agent_a, queue):
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    response = client.post(
        reverse("desk-layout"),
        {"pinned": ["messages", "close", "bogus"], "interaction": offered.interaction_id},
        **HTMX,
    )
    assert response.status_code == 200
    agent_a.refresh_from_db()
    assert agent_a.desk_pinned == ["messages", "close"]  # unknown panels are dropped
    page = client.get(reverse("desk-interaction", args=[offered.interaction_id])).content.decode()
    assert 'class="messages pinned"' in page and 'class="close pinned"' in page
    assert 'class="screen-pop"' in page
    # Someone else's layout is theirs.
    colleague = agent_in_queue(queue)
    assert colleague.desk_pinned == []


def test_blocking_a_number_refuses_what_comes_from_it(login, offered, agent_a, org_a, api_client):
    from apps.contacts.models import Identity
    from apps.interactions.models import Interaction
    from tests.factories import IdentityFactory

    services.offer_accept(offer=offered, agent=agent_a)
    phone = IdentityFactory(contact=offered.interaction.contact, kind="phone", value="+14155552671")
    client = login(agent_a)
    url = reverse("desk-block", args=[offered.interaction_id])
    response = client.post(url, {"identity": phone.pk, "reason": "abuse"}, **HTMX)
    assert 'data-testid="blocked"' in response.content.decode()
    phone.refresh_from_db()
    assert phone.blocked_at is not None and phone.blocked_reason == "abuse"
    assert Event.objects.filter(type="identity.blocked", actor=agent_a).exists()
    # A new conversation from that number is refused with a clear error, and nothing is stored.
    before = Interaction.objects.count()
    api_client.force_authenticate(agent_a)
    response = api_client.post(
        "/api/v1/interactions/",
        {
            "channel": "sms",
            "direction": "inbound",
            "identity_kind": "phone",
            "identity_value": "(415) 555-2671",
        },
        format="json",
    )
    assert response.status_code == 400 and "blocked" in response.content.decode()
    assert Interaction.objects.count() == before
    client.post(url, {"identity": phone.pk, "unblock": "1"}, **HTMX)
    assert Identity.objects.get(pk=phone.pk).blocked_at is None


def test_reply_on_another_channel_of_the_customer(login, offered, agent_a, org_a):
    from apps.contacts.services import consent_record
    from apps.interactions.models import Interaction
    from tests.factories import IdentityFactory

    services.offer_accept(offer=offered, agent=agent_a)
    contact = offered.interaction.contact
    mail = IdentityFactory(contact=contact, kind="email", value="ada@example.com")
    phone = IdentityFactory(contact=contact, kind="phone", value="+14155552671")
    client = login(agent_a)
    page = client.get(reverse("desk-interaction", args=[offered.interaction_id])).content.decode()
    assert f'value="{mail.pk}:email"' in page and f'value="{phone.pk}:sms"' in page
    url = reverse("desk-reply", args=[offered.interaction_id])
    response = client.post(url, {"body": "Your invoice", "via": f"{mail.pk}:email"}, **HTMX)
    assert response.status_code == 204
    switched = Interaction.objects.get(channel="email")
    assert response["HX-Redirect"] == reverse("desk-interaction", args=[switched.pk])
    assert switched.continues_id == offered.interaction_id
    assert (switched.direction, switched.state, switched.assigned_agent_id) == (
        "outbound",
        State.ACTIVE,
        agent_a.pk,
    )
    assert switched.messages.get().body == "Your invoice"
    # Opted out of SMS: refused, nothing created.
    consent_record(contact=contact, channel="sms", status="opt_out", source="agent")
    response = client.post(url, {"body": "Hi", "via": f"{phone.pk}:sms"}, **HTMX)
    assert response.status_code == 400
    assert "asked not to be contacted" in response.content.decode()
    assert not Interaction.objects.filter(channel="sms").exists()
    # A channel the address cannot take is refused too.
    response = client.post(url, {"body": "Hi", "via": f"{mail.pk}:whatsapp"}, **HTMX)
    assert response.status_code == 400


def test_a_follow_up_for_a_colleague_reaches_their_desk_and_is_done(login, offered, agent_a, queue):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from apps.desk.models import FollowUp
    from apps.notifications.models import Notification

    colleague = agent_in_queue(queue)
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    url = reverse("desk-follow-up-create", args=[offered.interaction_id])
    response = client.post(url, {"title": " ", "due": "2001-01-01T10:00"}, **HTMX)
    assert response.status_code == 400 and not FollowUp.objects.exists()
    zone = ZoneInfo(agent_a.effective_time_zone)  # the form is read in the agent's zone
    due = (datetime.now(zone) + timedelta(days=2)).replace(second=0, microsecond=0)
    response = client.post(
        url,
        {
            "title": "Send the contract",
            "due": due.strftime("%Y-%m-%dT%H:%M"),
            "assignee": colleague.pk,
        },
        **HTMX,
    )
    assert response.status_code == 200
    follow_up = FollowUp.objects.get()
    assert (follow_up.assignee_id, follow_up.due_at) == (colleague.pk, due)
    assert Notification.objects.filter(recipient=colleague, title__contains="contract").exists()
    colleague_client = login(colleague)
    assert "Send the contract" in colleague_client.get(reverse("desk")).content.decode()
    # Only the assignee closes it.
    done = reverse("desk-follow-up-done", args=[follow_up.pk])
    assert login(agent_a).post(done).status_code == 404
    response = login(colleague).post(done, **HTMX)
    assert "Nothing to follow up" in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.done_at is not None


def test_internal_notes_are_added_from_the_conversation(login, offered, agent_a):
    services.offer_accept(offer=offered, agent=agent_a)
    client = login(agent_a)
    url = reverse("desk-note", args=[offered.interaction_id])
    assert client.post(url, {"body": "  "}, **HTMX).status_code == 400
    response = client.post(url, {"body": "Customer is angry about fees"}, **HTMX)
    assert "Customer is angry about fees" in response.content.decode()
    assert offered.interaction.notes.get().author_id == agent_a.pk
