"""Follow-me chains as agents and administrators edit them: what is refused and why, and
what is saved."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.accounts.models import Role
from apps.connectors.followme import follow_me_set, follow_me_validate
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(roles):
    return UserFactory(username="alice", roles=[Role.AGENT])


def _colleague(alice, **kwargs):
    return UserFactory(organization=alice.organization, roles=[Role.AGENT], **kwargs)


def test_a_chain_is_cleaned_to_what_each_step_uses(alice):
    bob = _colleague(alice)
    steps = follow_me_validate(
        agent=alice,
        steps=[
            {"kind": "desk", "timeout": "20", "number": "+33600000000"},
            {"kind": "mobile", "number": "+33 6 12 34 56 78", "timeout": 30},
            {"kind": "agent", "agent": str(bob.pk), "timeout": 9},
        ],
    )
    assert steps == [
        {"kind": "desk", "timeout": 20},
        {"kind": "mobile", "timeout": 30, "number": "+33612345678"},
        {"kind": "agent", "agent": bob.pk},
    ]
    assert follow_me_validate(agent=alice, steps=[]) == []


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"kind": "desk", "timeout": 20}], "The last step must be voicemail or another agent."),
        ([{"kind": "voicemail"}, {"kind": "desk", "timeout": 20}], "only be the last step"),
        ([{"kind": "desk", "timeout": 4}, {"kind": "voicemail"}], "between 5 and 120 seconds"),
        ([{"kind": "desk", "timeout": 121}, {"kind": "voicemail"}], "between 5 and 120 seconds"),
        ([{"kind": "desk"}, {"kind": "voicemail"}], "between 5 and 120 seconds"),
        (
            [{"kind": "mobile", "number": "0612345678", "timeout": 20}, {"kind": "voicemail"}],
            "is not an international number",
        ),
        (
            [{"kind": "mobile", "timeout": 20}, {"kind": "voicemail"}],
            "give a number, or your mobile number first",
        ),
        ([{"kind": "fax"}], "choose desk, mobile, voicemail or another agent"),
        ([{"kind": "agent", "agent": 999999}], "choose an agent of your organization"),
        ("desk", "Follow-me is a list of steps."),
    ],
)
def test_invalid_chains_are_refused_clearly(alice, steps, message):
    with pytest.raises(ValidationError, match=message):
        follow_me_validate(agent=alice, steps=steps)


def test_an_agent_of_another_organization_or_oneself_is_refused(alice):
    stranger = UserFactory(organization=OrganizationFactory(), roles=[Role.AGENT])
    with pytest.raises(ValidationError, match="choose an agent of your organization"):
        follow_me_validate(agent=alice, steps=[{"kind": "agent", "agent": stranger.pk}])
    with pytest.raises(ValidationError, match="loop"):
        follow_me_validate(agent=alice, steps=[{"kind": "agent", "agent": alice.pk}])


def test_a_loop_through_colleagues_is_refused(alice):
    bob = _colleague(alice, username="bob")
    carol = _colleague(alice, username="carol")
    follow_me_set(agent=carol, steps=[{"kind": "agent", "agent": alice.pk}], mobile="")
    follow_me_set(agent=bob, steps=[{"kind": "agent", "agent": carol.pk}], mobile="")
    with pytest.raises(ValidationError, match="loop"):
        follow_me_validate(agent=alice, steps=[{"kind": "agent", "agent": bob.pk}])


def test_the_agent_edits_their_chain_on_the_desk_settings_page(client, alice):
    bob = _colleague(alice)
    client.force_login(alice)
    url = reverse("desk-call-settings")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "mobile": "+33612345678",
            "kind-0": "desk",
            "timeout-0": "15",
            "kind-1": "mobile",
            "timeout-1": "25",
            "kind-2": "agent",
            "agent-2": str(bob.pk),
            "notify": ["desk", "sms"],
        },
    )
    assert response.status_code == 200 and b"Saved." in response.content
    alice.agent_profile.refresh_from_db()
    assert alice.agent_profile.mobile == "+33612345678"
    assert alice.agent_profile.follow_me == [
        {"kind": "desk", "timeout": 15},
        {"kind": "mobile", "timeout": 25},
        {"kind": "agent", "agent": bob.pk},
    ]
    assert alice.agent_profile.voicemail_notify == ["desk", "sms"]

    refused = client.post(
        url, {"mobile": "+33612345678", "kind-0": "desk", "timeout-0": "500", "kind-1": "voicemail"}
    )
    assert refused.status_code == 400 and b"between 5 and 120 seconds" in refused.content
    alice.agent_profile.refresh_from_db()
    assert alice.agent_profile.follow_me[0] == {"kind": "desk", "timeout": 15}  # unchanged


def test_the_admin_refuses_an_invalid_chain(alice):
    from apps.accounts.admin import AgentProfileForm

    profile = alice.agent_profile
    data = {
        "extension": "",
        "languages": "[]",
        "capacity": '{"voice": 1}',
        "mobile": "",
        "follow_me": '[{"kind": "mobile", "timeout": 20}, {"kind": "voicemail"}]',
        "voicemail_notify": '["desk"]',
    }
    form = AgentProfileForm(data=data, instance=profile)
    assert not form.is_valid()
    assert "give a number, or your mobile number first" in str(form.errors["follow_me"])
    form = AgentProfileForm(data={**data, "mobile": "+33612345678"}, instance=profile)
    assert form.is_valid(), form.errors
    form.save()
    profile.refresh_from_db()
    assert profile.follow_me == [{"kind": "mobile", "timeout": 20}, {"kind": "voicemail"}]
