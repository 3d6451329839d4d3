"""factory_boy factories for every model the tests build."""

import factory
from django.contrib.auth.models import Group

from apps.accounts.models import (
    AddOn,
    AddOnFeature,
    AgentProfile,
    ApiKey,
    Organization,
    Plan,
    PlanFeature,
    Role,
    Subscription,
    SubscriptionAddOn,
    Team,
    User,
)
from apps.notifications.models import Notification

PASSWORD = "a-long-test-password"

# The admin user page carries the agent-profile inline; a browser posts its management form.
INLINE_MANAGEMENT = {"agent_profile-TOTAL_FORMS": "0", "agent_profile-INITIAL_FORMS": "0"}


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        skip_postgeneration_save = True
        model = Plan
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    agent_seats = 10

    @factory.post_generation
    def features(self, create, extracted, **kwargs):
        """``features={"api": None, "channel_voice": 2}`` (default: API access)."""
        wanted = {"api": None} if extracted is None else extracted
        for code, limit in wanted.items():
            PlanFeature.objects.update_or_create(plan=self, code=code, defaults={"limit": limit})


class AddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        skip_postgeneration_save = True
        model = AddOn

    code = factory.Sequence(lambda n: f"addon-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())

    @factory.post_generation
    def features(self, create, extracted, **kwargs):
        for code, limit in (extracted or {}).items():
            AddOnFeature.objects.create(addon=self, code=code, limit=limit)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        skip_postgeneration_save = True
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    time_zone = "Europe/Paris"
    subscription = factory.RelatedFactory(
        "tests.factories.SubscriptionFactory", factory_related_name="organization"
    )


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    organization = factory.SubFactory(OrganizationFactory, subscription=None)
    plan = factory.SubFactory(PlanFactory)
    status = Subscription.Status.ACTIVE


class SubscriptionAddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SubscriptionAddOn

    addon = factory.SubFactory(AddOnFactory)
    quantity = 1


class UserFactory(factory.django.DjangoModelFactory):
    """A user of an organization; ``roles=[Role.AGENT]`` puts them in the role groups."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        roles = extracted or []
        self.groups.set(Group.objects.filter(name__in=roles))
        self.is_staff = self.is_staff or bool(
            set(roles) & {Role.SUPERVISOR, Role.MANAGER, Role.ADMIN}
        )
        self.save()
        if Role.AGENT in roles:
            AgentProfile.objects.get_or_create(
                user=self, defaults={"organization": self.organization}
            )


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Key {n}")
    prefix = factory.Sequence(lambda n: f"p{n:07d}")
    hashed_key = factory.Sequence(lambda n: f"{n:064d}")
    role = Role.ADMIN


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    organization = factory.LazyAttribute(lambda o: o.recipient.organization)
    title = factory.Sequence(lambda n: f"Notification {n}")
    body = "Something happened."


# --- CRM and interactions -----------------------------------------------------------------

from apps.contacts.models import (  # noqa: E402
    Company,
    Contact,
    ContactField,
    ContactNote,
    Identity,
    IdentityKind,
    Tag,
)
from apps.interactions.models import (  # noqa: E402
    Channel,
    Direction,
    Disposition,
    Interaction,
    Message,
    State,
)
from apps.queues.models import Queue  # noqa: E402


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    organization = factory.SubFactory(OrganizationFactory)
    first_name = factory.Sequence(lambda n: f"Client{n}")
    last_name = "Dupont"


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Company {n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"tag-{n}")


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    contact = factory.SubFactory(ContactFactory)
    organization = factory.LazyAttribute(lambda o: o.contact.organization)
    kind = IdentityKind.EMAIL
    value = factory.Sequence(lambda n: f"client{n}@example.com")


class ContactFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactField

    organization = factory.SubFactory(OrganizationFactory)
    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda o: o.key.replace("_", " ").title())


class ContactNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactNote

    contact = factory.SubFactory(ContactFactory)
    organization = factory.LazyAttribute(lambda o: o.contact.organization)
    body = "Prefers e-mail."


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Queue {n}")
    wrap_up_seconds = 0  # tests of wrap-up set it; others get the backlog at once


class DispositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Disposition

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"resolved-{n}")
    name = factory.Sequence(lambda n: f"Resolved {n}")
    outcome = Disposition.Outcome.RESOLVED


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    contact = factory.SubFactory(ContactFactory)
    organization = factory.LazyAttribute(lambda o: o.contact.organization)
    channel = Channel.EMAIL
    direction = Direction.INBOUND
    state = State.NEW
    subject = factory.Sequence(lambda n: f"Question {n}")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    interaction = factory.SubFactory(InteractionFactory)
    organization = factory.LazyAttribute(lambda o: o.interaction.organization)
    channel = factory.LazyAttribute(lambda o: o.interaction.channel)
    direction = Direction.INBOUND
    author_kind = Message.Author.CONTACT
    body = factory.Sequence(lambda n: f"Hello {n}")
    delivery_status = Message.Delivery.RECEIVED


# --- Routing ------------------------------------------------------------------------------

from apps.queues.models import Presence, QueueMember  # noqa: E402


def agent_in_queue(
    queue, *, status="available", capacity=None, order=0, idle_minutes=0, **user_kwargs
):
    """An agent of the queue's organization, member of the queue, with a presence."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.accounts.models import Role

    agent = UserFactory(organization=queue.organization, roles=[Role.AGENT], **user_kwargs)
    if capacity is not None:
        agent.agent_profile.capacity = capacity
        agent.agent_profile.save()
    QueueMember.objects.create(
        organization=queue.organization, queue=queue, agent=agent, order=order
    )
    Presence.objects.create(
        organization=queue.organization,
        agent=agent,
        status=status,
        idle_since=timezone.now() - timedelta(minutes=idle_minutes),
    )
    return agent
