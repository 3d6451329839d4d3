"""The demo organization's chat widget (``fixtures/demo.json``, key ``webchat``; idempotent)."""

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
