"""Field validators shared by several apps."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def validate_texts_by_language(value) -> None:
    """A text per language code: ``{"en": "…", "fr": "…"}`` (empty is fine)."""
    if value in (None, ""):
        return
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and 2 <= len(k) <= 10 and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationError(
            _('Write one text per language code, like {"en": "Hello", "fr": "Bonjour"}.')
        )
