"""Thin tasks: each calls one service; the sweep repairs whatever a lost task left behind."""

from celery import shared_task

from apps.connectors import services


@shared_task(ignore_result=True)
def inbound_process_task(event_id: int) -> None:
    services.inbound_process(event_id=event_id)


@shared_task(ignore_result=True)
def outbound_send_task(outbound_id: int) -> None:
    services.outbound_send(outbound_id=outbound_id)


@shared_task(ignore_result=True)
def channels_sweep_task() -> None:
    services.inbound_retry_due()
    services.outbound_retry_due()
    services.bot_timeouts()
