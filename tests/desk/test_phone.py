"""The desk's phone: the softphone's access token (its identity and Voice grant, refused to
non-agents and never another organization's), the simulated line the demo's numbers use
(legs ring on the desk, answered there), click-to-call from a contact page and its refusals."""

import jwt
import pytest
from django.urls import reverse

from apps.accounts.models import PlanFeature, Role
from apps.connectors.models import ChannelAccount
from apps.contacts.models import IdentityKind
from apps.interactions.models import Interaction
from apps.voicesim import engine
from apps.voicesim.models import SimCall
from tests.factories import ContactFactory, IdentityFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db

ACCOUNT_SID = "AC" + "6" * 32
KEY_SID = "SK" + "1" * 32
KEY_SECRET = "api-key-secret-" + "s" * 32
APP_SID = "AP" + "2" * 32


def _number(organization, *, simulated=False, **config):
    PlanFeature.objects.update_or_create(
        plan=organization.subscription.plan, code="channel_voice", defaults={"limit": 5}
    )
    account = ChannelAccount(
        organization=organization,
        kind="voice",
        name="Main line",
        address=f"+1555{organization.pk:03d}{int(simulated)}{ChannelAccount.objects.count():02d}",
        queue=QueueFactory(organization=organization),
        config={"account_sid": ACCOUNT_SID, "simulated": simulated, **config},
    )
    account.set_secrets({"auth_token": "token", "api_key_secret": KEY_SECRET})
    account.save()
    return account


def test_the_token_names_the_agent_and_grants_voice(client, agent_a, org_a):
    _number(org_a, api_key_sid=KEY_SID, twiml_app_sid=APP_SID)
    client.force_login(agent_a)

    response = client.get(reverse("desk-phone-token"))

    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "twilio" and body["identity"] == agent_a.username
    claims = jwt.decode(body["token"], KEY_SECRET, algorithms=["HS256"])
    assert claims["iss"] == KEY_SID and claims["sub"] == ACCOUNT_SID
    assert claims["grants"]["identity"] == agent_a.username
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == APP_SID
    assert claims["grants"]["voice"]["incoming"]["allow"] is True
    assert 0 < claims["exp"] - claims["nbf"] <= 3600  # short-lived: the desk renews it


def test_the_token_is_refused_to_non_agents_and_without_credentials(
    client, supervisor_a, agent_a, org_a
):
    account = _number(org_a, api_key_sid=KEY_SID, twiml_app_sid=APP_SID)
    client.force_login(UserFactory(organization=org_a, roles=[Role.MANAGER]))
    refused = client.get(reverse("desk-phone-token"))
    assert refused.status_code == 403 and "token" not in refused.json()

    # A supervisor who is not an agent answers monitoring legs: a token that only receives.
    client.force_login(supervisor_a)
    body = client.get(reverse("desk-phone-token")).json()
    grants = jwt.decode(body["token"], KEY_SECRET, algorithms=["HS256"])["grants"]
    assert grants["voice"]["incoming"]["allow"] is True and "outgoing" not in grants["voice"]
    page = client.get(reverse("desk-supervisor")).content.decode()
    assert 'data-testid="softphone"' in page

    account.config = {"account_sid": ACCOUNT_SID}  # no API key nor TwiML App
    account.save()
    client.force_login(agent_a)
    missing = client.get(reverse("desk-phone-token"))
    assert missing.status_code == 409 and "not set up" in missing.json()["detail"]


def test_another_organizations_number_never_signs_a_token(client, admin_b, org_a):
    """Beta has no voice number: its agent gets no token, not one of Alpha's number."""
    _number(org_a, api_key_sid=KEY_SID, twiml_app_sid=APP_SID)
    client.force_login(admin_b)
    response = client.get(reverse("desk-phone-token"))
    assert response.status_code == 409 and "token" not in response.json()


def test_a_simulated_number_gives_the_simulated_line(client, agent_a, org_a):
    _number(org_a, simulated=True)
    client.force_login(agent_a)
    assert client.get(reverse("desk-phone-token")).json() == {
        "mode": "simulated",
        "identity": agent_a.username,
    }


def test_the_simulated_softphone_rings_and_answers_on_the_desk(client, agent_a, org_a):
    account = _number(org_a, simulated=True)
    client.force_login(agent_a)
    assert client.get(reverse("voicesim-phone")).json() == {"registered": True, "call": None}

    # Our system dials the agent's leg into a conference (as voice_sync does).
    leg = engine.rest_call_create(
        account=account,
        params={
            "To": f"client:{agent_a.username}",
            "From": account.address,
            "Twiml": "<Response><Dial><Conference>cc-1-1</Conference></Dial></Response>",
        },
    )
    assert leg.status == "ringing"  # registered: it waits for the agent
    state = client.get(reverse("voicesim-phone")).json()["call"]
    assert state["id"] == leg.pk and state["status"] == "ringing"

    url = reverse("voicesim-phone-action", kwargs={"pk": leg.pk, "action": "answer"})
    answered = client.post(url).json()["call"]
    assert answered["status"] == "in-progress"
    leg.refresh_from_db()
    assert leg.conference == "cc-1-1"

    hangup = reverse("voicesim-phone-action", kwargs={"pk": leg.pk, "action": "hangup"})
    assert client.post(hangup).json() == {"call": None}
    leg.refresh_from_db()
    assert leg.status == "completed"


def test_an_unregistered_softphone_leg_is_answered_at_once(org_a, agent_a):
    account = _number(org_a, simulated=True)
    leg = engine.rest_call_create(
        account=account,
        params={
            "To": f"client:{agent_a.username}",
            "From": account.address,
            "Twiml": "<Response><Dial><Conference>cc-1-2</Conference></Dial></Response>",
        },
    )
    assert leg.status == "in-progress" and leg.conference == "cc-1-2"


def test_click_to_call_refused_says_why_and_calls_nobody(client, agent_a, org_a):
    _number(org_a, simulated=True)
    contact = ContactFactory(organization=org_a, do_not_contact=True)
    IdentityFactory(contact=contact, kind=IdentityKind.PHONE, value="+14155550177")
    client.force_login(agent_a)

    response = client.post(reverse("desk-contact-call", kwargs={"pk": contact.pk}), follow=True)

    assert "asked not to be called" in response.content.decode()
    assert not Interaction.objects.exists() and not SimCall.objects.exists()


def test_the_contact_page_and_the_desk_show_the_phone(client, agent_a, org_a):
    contact = ContactFactory(organization=org_a)
    IdentityFactory(contact=contact, kind=IdentityKind.PHONE, value="+14155550178")
    client.force_login(agent_a)
    page = client.get(reverse("desk-contact", kwargs={"pk": contact.pk})).content.decode()
    assert reverse("desk-contact-call", kwargs={"pk": contact.pk}) in page
    assert 'data-testid="softphone"' in page
    assert 'data-testid="softphone"' in client.get(reverse("desk")).content.decode()


def test_caller_ids_must_be_the_organizations_voice_numbers(org_a, org_b, roles):
    from django.core.exceptions import ValidationError

    theirs = _number(org_b)
    ours = _number(org_a)
    queue = QueueFactory(organization=org_a, caller_id=theirs)
    with pytest.raises(ValidationError) as error:
        queue.full_clean()
    assert "caller_id" in error.value.message_dict
    org_a.default_voice_number = theirs
    with pytest.raises(ValidationError) as error:
        org_a.full_clean()
    assert "default_voice_number" in error.value.message_dict
    queue.caller_id = ours
    queue.full_clean()
    org_a.default_voice_number = ours
    org_a.full_clean()


def test_the_admin_offers_only_the_organizations_numbers(client, admin_a, org_a, org_b):
    theirs = _number(org_b)
    ours = _number(org_a)
    client.force_login(admin_a)
    page = client.get(reverse("admin:accounts_organization_change", args=[org_a.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'value="{ours.pk}"' in html and f'value="{theirs.pk}"' not in html


def test_a_number_dialled_on_the_softphone_is_checked_like_click_to_call(client, agent_a, org_a):
    _number(org_a, simulated=True)
    contact = ContactFactory(organization=org_a)
    IdentityFactory(contact=contact, kind=IdentityKind.PHONE, value="+14155550179")
    from apps.contacts.services import consent_record

    consent_record(contact=contact, channel="all", status="opt_out", source="agent")
    client.force_login(agent_a)
    refused = client.post(reverse("desk-phone-dial"), {"number": "+1 415 555 0179"})
    assert refused.status_code == 400 and "asked not to be called" in refused.json()["detail"]
    nonsense = client.post(reverse("desk-phone-dial"), {"number": "call me"})
    assert nonsense.status_code == 400
    assert not Interaction.objects.exists() and not SimCall.objects.exists()
