"""The demo organization's chat widget and phone number (``fixtures/demo.json``, keys
``webchat`` and ``voice``; idempotent)."""

import uuid

from apps.connectors.models import ChannelAccount, Kind
from apps.connectors.services import channel_account_save


def demo_webchat_load(*, organization, data: dict) -> ChannelAccount:
    from apps.queues.models import Queue

    account = ChannelAccount.objects.filter(
        organization=organization, kind=Kind.WEBCHAT, name=data["name"]
    ).first()
    if account is not None:
        return account
    queue = Queue.objects.get_or_create(organization=organization, name=data["queue"])[0]
    account = ChannelAccount(
        organization=organization,
        kind=Kind.WEBCHAT,
        name=data["name"],
        key=uuid.UUID(data["key"]),
        queue=queue,
        config=data.get("config", {}),
    )
    return channel_account_save(account=account)


def demo_voice_load(*, organization, data: dict) -> ChannelAccount:
    """The demo phone number: its flow is the demo IVR, its provider the built-in simulator
    (the auth token is public: it only signs simulated calls)."""
    from apps.queues.models import Queue

    account = ChannelAccount.objects.filter(kind=Kind.VOICE, address=data["address"]).first()
    if account is not None:
        return account
    queue = Queue.objects.get_or_create(organization=organization, name=data["queue"])[0]
    account = ChannelAccount(
        organization=organization,
        kind=Kind.VOICE,
        name=data["name"],
        address=data["address"],
        key=uuid.UUID(data["key"]),
        queue=queue,
        config={"account_sid": data["account_sid"], **data.get("config", {})},
    )
    return channel_account_save(account=account, secrets={"auth_token": data["auth_token"]})
