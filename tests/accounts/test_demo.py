import pytest

from apps.accounts.demo import demo_load
from apps.accounts.models import Organization, Role, User
from apps.contacts.models import Contact
from apps.interactions.models import Event, Interaction
from apps.interactions.selectors import screen_pop

pytestmark = pytest.mark.django_db


def test_demo_loads_twice_without_duplicating(roles):
    logins = demo_load()
    counts = (User.objects.count(), Contact.objects.count(), Interaction.objects.count())
    assert demo_load() == logins
    assert (User.objects.count(), Contact.objects.count(), Interaction.objects.count()) == counts


def test_demo_has_two_plans_roles_and_histories(roles):
    demo_load()
    acme, globex = Organization.objects.get(slug="acme"), Organization.objects.get(slug="globex")
    assert acme.subscription.plan != globex.subscription.plan
    roles_present = {g for u in User.objects.filter(organization=acme) for g in u.role_names}
    assert roles_present == {Role.ADMIN, Role.SUPERVISOR, Role.MANAGER, Role.AGENT}
    assert User.objects.get(username="acme-agent1").check_password("contact-center-demo")
    camille = Contact.objects.get(organization=acme, external_id="demo-1")
    waiting = camille.interactions.get(channel="whatsapp")
    pop = screen_pop(interaction=waiting)
    assert {i.channel for i in pop.recent_interactions} == {"voice", "email"}
    assert pop.custom_fields[0] == ("Account number", "AC-10293")
    assert Event.objects.filter(
        interaction__contact=camille, type="interaction.state_changed"
    ).exists()
