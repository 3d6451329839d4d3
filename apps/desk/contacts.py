"""The desk's contact directory: search, a contact's page with their whole history, editing."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.contacts.models import ContactField, Tier
from apps.contacts.selectors import contact_fields, contact_get, contact_search
from apps.contacts.services import contact_update
from apps.desk.views import _agent
from apps.interactions.selectors import contact_timeline


@login_required
@permission_required("contacts.view_contact", raise_exception=True)
def contact_directory_view(request):
    agent = _agent(request)
    q = request.GET.get("q", "").strip()
    contacts = contact_search(organization=agent.organization, q=q).order_by(
        "last_name", "first_name", "id"
    )
    page = Paginator(contacts, 25).get_page(request.GET.get("page"))
    template = "desk/_contact_rows.html" if request.htmx else "desk/contacts.html"
    return render(request, template, {"page": page, "q": q})


def _editable_fields(organization) -> list[ContactField]:
    return [f for f in contact_fields(organization=organization) if not f.crm_owned]


@login_required
@permission_required("contacts.view_contact", raise_exception=True)
def contact_page_view(request, pk: int):
    agent = _agent(request)
    contact = contact_get(organization=agent.organization, contact_id=pk)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not request.user.has_perm("contacts.change_contact"):
            errors["__all__"] = [_("You may not change contacts.")]
        else:
            values = {
                f.key: request.POST.get(f"cf_{f.key}", "")
                for f in _editable_fields(agent.organization)
            }
            try:
                contact_update(
                    contact=contact,
                    actor=request.user,
                    first_name=request.POST.get("first_name", "").strip(),
                    last_name=request.POST.get("last_name", "").strip(),
                    language=request.POST.get("language", "").strip(),
                    time_zone=request.POST.get("time_zone", "").strip(),
                    custom_fields=values,  # an emptied field is cleared
                    company_name=request.POST.get("company", ""),
                )
            except ValidationError as exc:
                errors = (
                    exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
                )
            else:
                messages.success(request, _("Saved."))
                return redirect("desk-contact", pk=contact.pk)
        contact.refresh_from_db()
    timeline = Paginator(contact_timeline(contact=contact), 10).get_page(request.GET.get("page"))
    return render(
        request,
        "desk/contact.html",
        {
            "contact": contact,
            "timeline": timeline,
            "fields": [
                (f, contact.custom_fields.get(f.key, ""))
                for f in contact_fields(organization=agent.organization)
            ],
            "errors": errors,
            "general_errors": errors.get("__all__", []),
            "tiers": Tier.choices,
        },
        status=400 if errors else 200,
    )
