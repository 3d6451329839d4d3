"""Reads for the channels: the account a webhook names, accounts of an organization."""

from django.http import Http404

from apps.connectors.models import ChannelAccount


def webhook_account(*, key, kinds) -> ChannelAccount:
    """The active account a webhook URL names (unknown or inactive: 404, nothing stored)."""
    account = (
        ChannelAccount.objects.select_related("organization", "queue")
        .filter(key=key, kind__in=list(kinds), is_active=True, organization__is_active=True)
        .first()
    )
    if account is None:
        raise Http404
    return account


def webchat_account(*, key) -> ChannelAccount:
    """The active chat widget a public key names (unknown, inactive, malformed: 404)."""
    import uuid

    try:
        key = uuid.UUID(str(key))
    except ValueError as exc:
        raise Http404 from exc
    return webhook_account(key=key, kinds=["webchat"])
