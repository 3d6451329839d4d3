"""Recordings on the desk: the player streams the stored audio to those who may open the call
(another organization's, or a colleague's call for an agent, is a 404), tags, and the
supervisors' search (dates, agent, queue, tag, words of the transcript)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role
from tests.factories import InteractionFactory, QueueFactory, UserFactory
from tests.interactions.factories import WAV, RecordingFactory, TranscriptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(roles, org_a, agent_a):
    queue = QueueFactory(organization=org_a, name="Billing")
    from tests.factories import ContactFactory

    interaction = InteractionFactory(
        contact=ContactFactory(organization=org_a),
        channel="voice",
        state="closed",
        queue=queue,
        assigned_agent=agent_a,
    )
    return RecordingFactory(interaction=interaction)


def _audio(recording):
    return reverse("desk-recording-audio", kwargs={"pk": recording.pk})


def test_the_player_streams_the_stored_file_to_the_calls_agent_and_supervisors(
    login, recorded, agent_a, supervisor_a
):
    response = login(agent_a).get(_audio(recorded))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == WAV
    assert response["Content-Type"] == "audio/x-wav"
    assert login(supervisor_a).get(_audio(recorded)).status_code == 200


def test_another_organizations_recording_is_404_and_a_colleagues_call_too(
    login, recorded, admin_b, org_a
):
    assert login(admin_b).get(_audio(recorded)).status_code == 404
    colleague = UserFactory(organization=org_a, roles=[Role.AGENT])
    assert login(colleague).get(_audio(recorded)).status_code == 404
    tags = reverse("desk-recording-tags", kwargs={"pk": recorded.pk})
    assert login(admin_b).post(tags, {"tags": "stolen"}).status_code == 404
    assert not recorded.tags.exists()


def test_the_conversation_lists_its_recordings_with_player_and_transcript(login, recorded, agent_a):
    TranscriptFactory(recording=recorded, text="Where is my parcel?")
    url = reverse("desk-interaction", kwargs={"pk": recorded.interaction_id})
    page = login(agent_a).get(url).content.decode()
    assert _audio(recorded) in page
    assert "Where is my parcel?" in page


def test_tags_are_edited_on_the_recording(login, recorded, agent_a):
    url = reverse("desk-recording-tags", kwargs={"pk": recorded.pk})
    response = login(agent_a).post(
        url, {"tags": "quality, training, quality"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert sorted(recorded.tags.values_list("name", flat=True)) == ["quality", "training"]
    assert 'value="quality, training"' in response.content.decode()


def test_supervisors_search_recordings_by_words_tag_queue_agent_and_dates(
    login, recorded, supervisor_a, agent_a, org_a, org_b
):
    TranscriptFactory(recording=recorded, text="I want a refund for the router.")
    other = RecordingFactory(
        interaction=InteractionFactory(
            contact=recorded.interaction.contact, channel="voice", state="closed"
        )
    )
    TranscriptFactory(recording=other, text="Thanks for the quick fix.")
    foreign = RecordingFactory()  # another organization's, same words
    TranscriptFactory(recording=foreign, text="I want a refund for the router.")
    from apps.connectors.recording import recording_tags_set

    recording_tags_set(recording=recorded, names=["complaint"])
    url = reverse("desk-recordings")
    client = login(supervisor_a)

    def found(**params):
        response = client.get(url, params, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        return {r.pk for r in response.context["recordings"]}

    assert found() == {recorded.pk, other.pk}
    assert found(q="REFUND") == {recorded.pk}
    assert found(tag="complaint") == {recorded.pk}
    assert found(queue=recorded.interaction.queue_id) == {recorded.pk}
    assert found(agent=agent_a.pk) == {recorded.pk}
    today = timezone.localdate()
    assert found(since=str(today), until=str(today)) == {recorded.pk, other.pk}
    assert found(since=str(today + timedelta(days=1))) == set()
    assert client.get(url).status_code == 200  # the whole page


def test_agents_cannot_search_recordings(login, agent_a):
    assert login(agent_a).get(reverse("desk-recordings")).status_code == 403


def test_the_admin_lists_only_the_organizations_recordings_and_edits_tags_not_audio(
    login, recorded, supervisor_a
):
    foreign = RecordingFactory()
    client = login(supervisor_a)
    page = client.get(reverse("admin:interactions_recording_changelist")).content.decode()
    assert recorded.provider_sid in page or str(recorded.interaction) in page
    url = reverse("admin:interactions_recording_change", args=[recorded.pk])
    page = client.get(url).content.decode()
    assert _audio(recorded) in page  # played through the access-checked view
    assert 'name="keep"' in page and 'name="provider_sid"' not in page
    foreign_url = reverse("admin:interactions_recording_change", args=[foreign.pk])
    assert client.get(foreign_url).status_code in (302, 404)
