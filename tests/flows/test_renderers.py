from xml.etree import ElementTree

import pytest

from apps.flows.engine import FlowContext, flow_advance, flow_start
from apps.flows.renderers import render_chat, render_voice
from tests.factories import ContactFactory, QueueFactory
from tests.flows.factories import build_version, ivr_spec

pytestmark = pytest.mark.django_db


def parse(twiml: str) -> ElementTree.Element:
    """Our own TwiML, built by the twilio library: trusted XML."""
    return ElementTree.fromstring(twiml)  # noqa: S314


@pytest.fixture
def ivr(org_a):
    QueueFactory(organization=org_a, name="Billing")
    return build_version(org_a, ivr_spec())


def test_voice_menu_is_a_gather(org_a, ivr):
    contact = ContactFactory(organization=org_a, language="fr")
    step = flow_start(ivr, FlowContext(organization=org_a, contact=contact))
    root = parse(render_voice(step, action_url="/voice/flow/7/"))
    assert root.tag == "Response"
    gather = root.find("Gather")
    assert gather.attrib["input"] == "dtmf speech"
    assert gather.attrib["action"] == "/voice/flow/7/"
    assert gather.attrib["timeout"] == "4"
    assert gather.attrib["language"] == "fr-FR"
    assert "numDigits" not in gather.attrib  # "say agent" is not one key
    assert gather.attrib["hints"] == "billing, invoice, support, agent, human"
    says = gather.findall("Say")
    assert [s.text for s in says] == [
        "Bienvenue.",
        "Press 1 for billing, 2 for support, or say agent.",
    ]
    # The menu has no French text: its English is said with an English voice.
    assert [s.attrib["language"] for s in says] == ["fr-FR", "en-US"]
    assert root.find("Redirect").text == "/voice/flow/7/"


def test_voice_collect_digits_and_hangup(org_a):
    version = build_version(
        org_a,
        {
            "pin": (
                "collect",
                {"prompt": "PIN?", "variable": "pin", "min_length": 4, "max_length": 4},
                {"next": "bye"},
            ),
            "bye": ("hangup", {"prompt": "Goodbye", "audio": ""}, {}),
        },
    )
    step = flow_start(version, FlowContext(organization=org_a))
    gather = parse(render_voice(step, action_url="/a")).find("Gather")
    assert gather.attrib["input"] == "dtmf"
    assert gather.attrib["numDigits"] == "4"
    assert gather.attrib["finishOnKey"] == "#"
    final = flow_advance(step.session, "1234")
    root = parse(render_voice(final, action_url="/a"))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert root.find("Say").attrib["language"] == "en-US"


def test_voice_play_audio(org_a):
    version = build_version(
        org_a, {"hi": ("hangup", {"prompt": "", "audio": "https://cdn.example.com/hi.mp3"}, {})}
    )
    root = parse(
        render_voice(flow_start(version, FlowContext(organization=org_a)), action_url="/a")
    )
    assert root.find("Play").text == "https://cdn.example.com/hi.mp3"


def test_voice_enqueue_returns_the_decision(org_a, ivr):
    step = flow_advance(flow_start(ivr, FlowContext(organization=org_a)).session, "1")
    assert render_voice(step, action_url="/a")["action"] == "enqueue"


def test_chat_messages_with_buttons(org_a, ivr):
    step = flow_start(ivr, FlowContext(organization=org_a, channel="chat"))
    assert render_chat(step) == [
        {"text": "Welcome to Acme.", "buttons": []},
        {
            "text": "Press 1 for billing, 2 for support, or say agent.",
            "buttons": [
                {"id": "1", "title": "Billing"},
                {"id": "2", "title": "Support"},
                {"id": "agent", "title": "An agent"},
            ],
        },
    ]
    # A tapped button comes back as its id.
    assert flow_advance(step.session, "agent").session["path"][-1] == "support"


def test_a_prompt_missing_in_the_callers_language_is_said_in_its_own(org_a):
    version = build_version(org_a, {"bye": ("hangup", {"prompt": {"fr": "Au revoir"}}, {})})
    spanish = ContactFactory(organization=org_a, language="es")
    step = flow_start(version, FlowContext(organization=org_a, contact=spanish))
    say = parse(render_voice(step, action_url="/a")).find("Say")
    assert (say.text, say.attrib["language"]) == ("Au revoir", "fr-FR")
