from django.apps import AppConfig


class VoicesimConfig(AppConfig):
    name = "apps.voicesim"
    verbose_name = "Simulated telephony provider"
    default_auto_field = "django.db.models.BigAutoField"
