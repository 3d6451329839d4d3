"""Wallboard formatting (the same clock as static/js/app.js, which keeps it counting)."""

from django import template

register = template.Library()


@register.filter
def clock(seconds) -> str:
    """125 → "2:05", 3725 → "1:02:05"."""
    s = max(0, int(seconds or 0))
    hours, minutes = divmod(s // 60, 60)
    return f"{hours}:{minutes:02d}:{s % 60:02d}" if hours else f"{minutes}:{s % 60:02d}"
