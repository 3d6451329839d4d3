import pytest

from apps.flows.models import Flow
from apps.flows.services import interaction_flow_step
from apps.interactions.models import Event
from tests.factories import IdentityFactory, InteractionFactory, QueueFactory
from tests.flows.factories import build_version, ivr_spec

pytestmark = pytest.mark.django_db


def test_an_interaction_runs_its_flow_with_the_session_in_its_data(org_a):
    QueueFactory(organization=org_a, name="Billing")
    version = build_version(org_a, ivr_spec(), status="published")
    identity = IdentityFactory(contact__organization=org_a, kind="phone", value="+33612345678")
    interaction = InteractionFactory(
        contact=identity.contact, identity=identity, channel="voice", data={"call_sid": "CA1"}
    )
    first = interaction_flow_step(interaction=interaction, flow=version.flow)
    interaction.refresh_from_db()
    assert interaction.flow == version.flow
    assert interaction.data["call_sid"] == "CA1"
    assert interaction.data["flow"]["awaiting"] == "main"
    assert interaction.data["flow"]["caller"] == "+33612345678"
    assert first.question is not None

    final = interaction_flow_step(interaction=interaction, input="2")
    assert final.decision["action"] == "enqueue"
    event = Event.objects.get(interaction=interaction, type="flow.finished")
    assert event.data["path"] == ["welcome", "main", "support"]
    interaction_flow_step(interaction=interaction, input="2")  # a repeated webhook
    assert Event.objects.filter(interaction=interaction, type="flow.finished").count() == 1


def test_a_flow_without_a_live_version_is_refused(org_a):
    flow = Flow.objects.create(organization=org_a, name="Empty")
    with pytest.raises(ValueError):
        interaction_flow_step(
            interaction=InteractionFactory(contact__organization=org_a), flow=flow
        )
