"""The demo IVR: a published flow the simulator (and later the voice part) can run at once."""

from datetime import time

from django.db import transaction

from apps.flows.models import Flow, FlowVersion, Node, Transition
from apps.flows.services import flow_version_create, flow_version_publish

DEMO_HOURS = "Office hours"

# key: (kind, label, config, {outcome: target}); the first node is the start.
DEMO_IVR = {
    "welcome": (
        "say",
        "Welcome",
        {
            "prompt": {
                "en": "Welcome to {{ organization.name }}.",
                "fr": "Bienvenue chez {{ organization.name }}.",
            }
        },
        {"next": "open"},
    ),
    "open": (
        "condition",
        "Open now?",
        {"test": "business_hours", "hours": DEMO_HOURS},
        {"true": "vip", "false": "closed"},
    ),
    "closed": (
        "callback_offer",
        "Closed: callback or voicemail",
        {
            "prompt": {
                "en": "We are closed. Press 1 and we call you back when we open, "
                "or press 2 to leave a message.",
                "fr": "Nous sommes fermés. Tapez 1 pour être rappelé à l'ouverture, "
                "ou 2 pour laisser un message.",
            },
            "queue": "Technical support",
            "accept_label": {"en": "Call me back", "fr": "Rappelez-moi"},
            "decline_label": {"en": "Leave a message", "fr": "Laisser un message"},
            "timeout": 6,
            "retries": 1,
        },
        {"accepted": "callback_thanks", "declined": "voicemail", "timeout": "voicemail"},
    ),
    "callback_thanks": (
        "hangup",
        "Callback booked",
        {
            "prompt": {
                "en": "Thank you, we will call you back as soon as we open.",
                "fr": "Merci, nous vous rappelons dès l'ouverture.",
            }
        },
        {},
    ),
    "voicemail": (
        "voicemail",
        "Voicemail",
        {
            "queue": "Technical support",
            "prompt": {
                "en": "Please leave your message after the tone.",
                "fr": "Laissez votre message après le bip.",
            },
        },
        {},
    ),
    "vip": (
        "condition",
        "VIP or gold customer?",
        {"test": "tier", "in": ["vip", "gold"]},
        {"true": "vip_hello", "false": "main"},
    ),
    "vip_hello": (
        "say",
        "VIP greeting",
        {
            "prompt": {
                "en": "Welcome back {{ contact.first_name }}: you go first today.",
                "fr": "Bon retour {{ contact.first_name }} : vous passez en priorité.",
            }
        },
        {"next": "main"},
    ),
    "main": (
        "menu",
        "Main menu",
        {
            "prompt": {
                "en": "For billing, press 1. For technical support, press 2. To hear your "
                "balance, press 3. For sales, press 4. Or say agent.",
                "fr": "Facturation, tapez 1. Assistance technique, tapez 2. Pour connaître "
                "votre solde, tapez 3. Ventes, tapez 4. Ou dites conseiller.",
            },
            "options": [
                {
                    "key": "1",
                    "title": {"en": "Billing", "fr": "Facturation"},
                    "keywords": ["billing", "invoice", "payment", "facture", "facturation"],
                },
                {
                    "key": "2",
                    "title": {"en": "Technical support", "fr": "Assistance"},
                    "keywords": ["support", "technical", "router", "internet", "assistance"],
                },
                {
                    "key": "3",
                    "title": {"en": "My balance", "fr": "Mon solde"},
                    "keywords": ["balance", "solde"],
                },
                {
                    "key": "4",
                    "title": {"en": "Sales", "fr": "Ventes"},
                    "keywords": ["sales", "buy", "offer", "ventes", "acheter"],
                },
                {
                    "outcome": "agent",
                    "title": {"en": "An agent", "fr": "Un conseiller"},
                    "keywords": ["agent", "human", "operator", "conseiller"],
                },
            ],
            "timeout": 5,
            "retries": 2,
        },
        {
            "1": "billing",
            "2": "support",
            "3": "balance",
            "4": "sales",
            "agent": "support",
            "timeout": "support",
            "invalid": "goodbye",
        },
    ),
    "balance": (
        "lookup",
        "Balance from the CRM",
        {"source": "contact", "field": "balance", "variable": "balance"},
        {"next": "balance_say", "error": "balance_unknown"},
    ),
    "balance_say": (
        "say",
        "Say the balance",
        {
            "prompt": {
                "en": "Your balance is {{ balance }} euros.",
                "fr": "Votre solde est de {{ balance }} euros.",
            }
        },
        {"next": "main"},
    ),
    "balance_unknown": (
        "say",
        "Balance unknown",
        {
            "prompt": {
                "en": "We could not find your account. An advisor will help you.",
                "fr": "Nous n'avons pas trouvé votre compte. Un conseiller va vous aider.",
            }
        },
        {"next": "billing"},
    ),
    "billing": (
        "enqueue",
        "Billing queue",
        {"queue": "Billing", "priority": 0, "skills": ["Billing"]},
        {},
    ),
    "support": ("enqueue", "Support queue", {"queue": "Technical support", "priority": 0}, {}),
    "sales": ("enqueue", "Sales queue", {"queue": "Sales", "priority": 10}, {}),
    "goodbye": (
        "hangup",
        "Goodbye",
        {"prompt": {"en": "Sorry we could not help. Goodbye.", "fr": "Désolés. Au revoir."}},
        {},
    ),
}


# The demo web chat's assistant: language-neutral (keys, and keywords in English and French),
# shown as buttons on chat channels and as a numbered text on SMS.
DEMO_CHAT = {
    "known": (
        "condition",
        "Do we know their name?",
        {"test": "contact_field", "field": "first_name", "op": "not_empty"},
        {"true": "welcome", "false": "welcome_anonymous"},
    ),
    "welcome": (
        "say",
        "Welcome by name",
        {
            "prompt": {
                "en": "Hello {{ contact.first_name }}, welcome to {{ organization.name }}!",
                "fr": "Bonjour {{ contact.first_name }}, bienvenue chez {{ organization.name }} !",
            }
        },
        {"next": "plan"},
    ),
    "welcome_anonymous": (
        "say",
        "Welcome",
        {
            "prompt": {
                "en": "Hello, welcome to {{ organization.name }}!",
                "fr": "Bonjour, bienvenue chez {{ organization.name }} !",
            }
        },
        {"next": "menu"},
    ),
    "plan": (
        "lookup",
        "Subscription from the CRM",
        {"source": "contact", "field": "plan", "variable": "plan"},
        {"next": "plan_say", "error": "menu"},
    ),
    "plan_say": (
        "say",
        "Say the subscription",
        {
            "prompt": {
                "en": "I see your {{ plan }} subscription.",
                "fr": "Je vois votre abonnement {{ plan }}.",
            }
        },
        {"next": "menu"},
    ),
    "menu": (
        "menu",
        "What about?",
        {
            "prompt": {
                "en": "How can we help you?",
                "fr": "Comment pouvons-nous vous aider ?",
            },
            "options": [
                {
                    "key": "1",
                    "title": {"en": "Billing", "fr": "Facturation"},
                    "keywords": ["billing", "invoice", "payment", "facture", "facturation"],
                },
                {
                    "key": "2",
                    "title": {"en": "Support", "fr": "Assistance"},
                    "keywords": ["support", "help", "internet", "aide", "assistance"],
                },
                {
                    "key": "3",
                    "outcome": "agent",
                    "title": {"en": "Talk to a person", "fr": "Parler à un conseiller"},
                    "keywords": ["agent", "person", "human", "conseiller", "humain"],
                },
            ],
            "timeout": 60,
            "retries": 1,
        },
        {
            "1": "billing",
            "2": "support",
            "agent": "agent",
            "timeout": "agent",
            "invalid": "agent",
        },
    ),
    "billing": ("enqueue", "Billing queue", {"queue": "Billing", "priority": 0}, {}),
    "support": ("enqueue", "Support queue", {"queue": "Technical support", "priority": 0}, {}),
    "agent": (
        "enqueue",
        "A person",
        {
            "queue": "Technical support",
            "priority": 5,
            "prompt": {
                "en": "An agent will answer you in a moment.",
                "fr": "Un conseiller vous répond dans un instant.",
            },
        },
        {},
    ),
}


def _demo_hours(organization):
    from apps.queues.models import BusinessHours, BusinessHoursPeriod

    hours, created = BusinessHours.objects.get_or_create(
        organization=organization,
        name=DEMO_HOURS,
        defaults={"time_zone": organization.time_zone},
    )
    if created:
        BusinessHoursPeriod.objects.bulk_create(
            BusinessHoursPeriod(hours=hours, weekday=day, opens=time(8), closes=time(20))
            for day in range(6)
        )
    return hours


def demo_ivr_load(*, organization, name: str = "Main line") -> FlowVersion:
    """The demo IVR of ``organization``, published (loading it again changes nothing)."""
    _demo_hours(organization)
    return _demo_flow_load(
        organization=organization,
        name=name,
        spec=DEMO_IVR,
        description="Welcome, business hours, VIP first, menu by key or word, balance.",
        note="Demo IVR",
    )


def demo_chat_flow_load(*, organization, name: str = "Chat assistant") -> FlowVersion:
    """The demo chat assistant of ``organization`` (the demo web chat runs it), published."""
    return _demo_flow_load(
        organization=organization,
        name=name,
        spec=DEMO_CHAT,
        description="Welcome, the customer's subscription, a menu with buttons, a queue.",
        note="Demo chat assistant",
    )


def _demo_flow_load(*, organization, name: str, spec: dict, description: str, note: str):
    existing = Flow.objects.filter(organization=organization, name=name).first()
    if existing is not None and existing.versions.exists():
        return existing.versions.order_by("-number").first()
    with transaction.atomic():
        flow = existing or Flow.objects.create(
            organization=organization, name=name, description=description
        )
        version = flow_version_create(flow=flow, note=note)
        nodes = {}
        for order, (key, (kind, label, config, _edges)) in enumerate(spec.items()):
            nodes[key] = Node.objects.create(
                organization=organization,
                version=version,
                key=key,
                kind=kind,
                label=label,
                config=config,
                is_start=order == 0,
                order=order * 10,
            )
        Transition.objects.bulk_create(
            Transition(
                organization=organization,
                version=version,
                node=nodes[key],
                outcome=outcome,
                target=target,
            )
            for key, (_kind, _label, _config, edges) in spec.items()
            for outcome, target in edges.items()
        )
        return flow_version_publish(version=version)
