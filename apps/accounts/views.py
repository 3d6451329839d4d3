from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.models import User
from apps.accounts.selectors import organization_agent_seats_used, organization_entitlements
from apps.accounts.services import user_set_preferences
from apps.core.features import feature_required


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["language", "time_zone"]


@login_required
def home_view(request):
    organization = request.organization
    context = {}
    if organization is not None:
        context = {
            "entitlements": organization_entitlements(organization=organization),
            "seats_used": organization_agent_seats_used(organization=organization),
        }
    return render(request, "accounts/home.html", context)


@login_required
@feature_required("api")
def api_docs_view(request):
    """Swagger UI served from vendored files; the page belongs to plans with API access."""
    from drf_spectacular.views import SpectacularSwaggerSplitView

    return SpectacularSwaggerSplitView.as_view(url_name="api-schema")(request)


@login_required
@require_POST
def preferences_view(request):
    """The user's language and time zone, from the selector in the page header."""
    form = PreferencesForm(request.POST, instance=request.user)
    if form.is_valid():
        user_set_preferences(user=request.user, **form.cleaned_data)
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
        next_url = "home"
    return redirect(next_url)
