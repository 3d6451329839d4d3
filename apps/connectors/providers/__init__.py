"""One module per provider channel. Each has ``handle(event) -> str | None`` (an inbound event
stored by a webhook: "ignored" when there was nothing to do) and ``send(outbound) -> str``
(the provider's message id; raises ``SendError``)."""

from types import ModuleType

from apps.connectors.models import Kind


def provider_for(kind: str) -> ModuleType:
    from apps.connectors.providers import email, fax, meta, twilio_sms, twilio_voice, x

    modules = {
        Kind.FAX: fax,
        Kind.SMS: twilio_sms,
        Kind.WHATSAPP: meta,
        Kind.MESSENGER: meta,
        Kind.INSTAGRAM: meta,
        Kind.X: x,
        Kind.EMAIL: email,
        Kind.VOICE: twilio_voice,
    }
    if kind not in modules:
        raise LookupError(f"no provider for {kind}")
    return modules[kind]
