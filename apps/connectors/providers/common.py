"""What the provider modules share: the public URL of a request, signed media links."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

MEDIA_LINK_MAX_AGE = 24 * 3600  # seconds a provider has to fetch a file we send


def public_url(request) -> str:
    """The URL the provider called (signatures are computed on it): PUBLIC_BASE_URL and the
    path when the system sits behind a proxy, else what the request says."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + request.get_full_path()
    return request.build_absolute_uri()


def absolute(path: str) -> str:
    """A public URL for one of our paths ("" when PUBLIC_BASE_URL is not set)."""
    return settings.PUBLIC_BASE_URL + path if settings.PUBLIC_BASE_URL else ""


def media_link(attachment) -> str:
    """A time-limited public link to an attachment, for a provider that fetches media by
    URL ("" without PUBLIC_BASE_URL)."""
    token = signing.dumps({"a": attachment.pk}, salt="connectors.media")
    return absolute(reverse("connectors-media", kwargs={"token": token}))
