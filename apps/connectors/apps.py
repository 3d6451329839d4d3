from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    label = "connectors"
    verbose_name = "Channels"

    def ready(self) -> None:
        # Connects the receiver of django-anymail's inbound signal (ESP inbound e-mail).
        from apps.connectors.providers import email  # noqa: F401
