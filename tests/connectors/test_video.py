"""An agent turns a chat into a video call with one click."""

import pytest
from django.urls import reverse

from apps.accounts.models import PlanFeature
from apps.interactions.models import Event, Interaction, Message
from apps.queues import services as queues
from apps.queues.models import Offer
from tests.factories import ContactFactory, InteractionFactory, QueueFactory, agent_in_queue

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def chat(roles, settings):
    settings.VIDEO_BASE_URL = "https://video.example.com"
    queue = QueueFactory()
    agent = agent_in_queue(queue)
    interaction = InteractionFactory(
        contact=ContactFactory(organization=queue.organization), channel="webchat"
    )
    queues.interaction_enqueue(interaction=interaction, queue=queue)
    queues.offer_accept(offer=Offer.objects.get(interaction=interaction), agent=agent)
    interaction.refresh_from_db()
    return agent, interaction


def test_one_click_makes_a_linked_video_interaction_and_sends_the_link(client, chat):
    agent, interaction = chat
    PlanFeature.objects.create(
        plan=interaction.organization.subscription.plan, code="channel_video"
    )
    client.force_login(agent)
    page = client.get(reverse("desk-interaction", args=[interaction.pk])).content.decode()
    assert 'data-testid="start-video"' in page
    response = client.post(reverse("desk-video", args=[interaction.pk]), **HTMX)
    assert response.status_code == 200
    video = Interaction.objects.get(channel="video")
    assert video.continues_id == interaction.pk and video.assigned_agent_id == agent.pk
    assert video.state == "active"
    url = video.data["url"]
    assert url.startswith("https://video.example.com/" + interaction.organization.slug + "-")
    invitation = Message.objects.get(interaction=interaction, direction="outbound")
    assert url in invitation.body and invitation.content == {"video": url}
    assert f'href="{url}"' in response.content.decode()  # clickable in the thread
    assert Event.objects.filter(type="interaction.video_started", interaction=interaction).exists()


def test_without_video_in_the_plan_there_is_no_button_and_a_clear_refusal(client, chat):
    agent, interaction = chat
    client.force_login(agent)
    page = client.get(reverse("desk-interaction", args=[interaction.pk])).content.decode()
    assert 'data-testid="start-video"' not in page
    response = client.post(reverse("desk-video", args=[interaction.pk]), **HTMX)
    assert response.status_code == 400 and "does not include" in response.content.decode()
    assert not Interaction.objects.filter(channel="video").exists()
