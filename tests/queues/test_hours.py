"""Business hours: open or closed on the hours' own clock, the next opening, the weekly schedule."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import factory
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

import apps.queues.admin_hours  # noqa: F401  (registers the admin until apps/queues/admin.py does)
from apps.queues.hours import hours_describe, hours_is_open, hours_next_opening, queue_is_open
from apps.queues.models import BusinessHours, BusinessHoursPeriod, Holiday, Queue
from tests.factories import OrganizationFactory, QueueFactory

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


class BusinessHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessHours

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Hours {n}")
    time_zone = "Europe/Paris"


class PeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessHoursPeriod

    hours = factory.SubFactory(BusinessHoursFactory)
    weekday = 0
    opens = time(8)
    closes = time(18)


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    hours = factory.SubFactory(BusinessHoursFactory)
    date = date(2025, 12, 25)
    name = "Christmas"


def _office(days=range(5), **kwargs):
    """Weekdays 08:00–12:00 and 13:00–18:00 in Paris (afternoons written first, on purpose)."""
    hours = BusinessHoursFactory(**kwargs)
    for weekday in days:
        PeriodFactory(hours=hours, weekday=weekday, opens=time(13), closes=time(18))
        PeriodFactory(hours=hours, weekday=weekday, opens=time(8), closes=time(12))
    return hours


def _sundays(opens, closes):
    hours = BusinessHoursFactory()
    PeriodFactory(hours=hours, weekday=6, opens=opens, closes=closes)
    return hours


def _every_day(time_zone):
    hours = BusinessHoursFactory(time_zone=time_zone)
    for weekday in range(7):
        PeriodFactory(hours=hours, weekday=weekday, opens=time(0), closes=time(23, 59))
    return hours


def _paris(*args):
    return datetime(*args, tzinfo=PARIS)


def _utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- Open or closed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "is_open"),
    [
        (time(7, 59, 59), False),
        (time(8), True),  # opens is inclusive
        (time(11, 59, 59), True),
        (time(12), False),  # closes is exclusive
        (time(12, 30), False),  # the lunch break between two periods
        (time(13), True),
        (time(17, 59, 59), True),
        (time(18), False),
    ],
)
def test_open_only_inside_a_period_of_the_day(clock, is_open):
    monday = datetime.combine(date(2025, 6, 2), clock, tzinfo=PARIS)
    assert hours_is_open(hours=_office(), at=monday) is is_open


def test_closed_on_a_day_without_periods():
    assert hours_is_open(hours=_office(), at=_paris(2025, 6, 7, 10)) is False  # a Saturday


def test_an_instant_in_any_zone_is_read_on_the_hours_clock():
    hours = _office()
    assert hours_is_open(hours=hours, at=_utc(2025, 6, 2, 6, 30)) is True  # 08:30 in Paris
    assert hours_is_open(hours=hours, at=_utc(2025, 6, 2, 16, 30)) is False  # 18:30 in Paris
    new_york = datetime(2025, 6, 2, 2, 30, tzinfo=ZoneInfo("America/New_York"))
    assert hours_is_open(hours=hours, at=new_york) is True  # 08:30 in Paris


def test_a_holiday_closes_the_whole_day():
    hours = _office()
    HolidayFactory(hours=hours, date=date(2025, 6, 9))
    assert hours_is_open(hours=hours, at=_paris(2025, 6, 9, 0, 0)) is False
    assert hours_is_open(hours=hours, at=_paris(2025, 6, 9, 10)) is False
    assert hours_is_open(hours=hours, at=_paris(2025, 6, 10, 10)) is True


@pytest.mark.parametrize(
    ("time_zone", "holiday", "closed_at", "open_at"),
    [
        # Christmas starts in Auckland while it is still the 24th in UTC, and ends before it does.
        ("Pacific/Auckland", date(2025, 12, 25), _utc(2025, 12, 24, 12), _utc(2025, 12, 25, 12)),
        # The evening of the 4th in Los Angeles is already the 5th in UTC, and the reverse.
        ("America/Los_Angeles", date(2025, 7, 4), _utc(2025, 7, 5, 2), _utc(2025, 7, 4, 5)),
    ],
)
def test_a_holiday_is_a_local_date_not_a_utc_one(time_zone, holiday, closed_at, open_at):
    hours = _every_day(time_zone)
    HolidayFactory(hours=hours, date=holiday)
    assert closed_at.astimezone(ZoneInfo(time_zone)).date() == holiday
    assert hours_is_open(hours=hours, at=closed_at) is False
    assert open_at.date() == holiday
    assert hours_is_open(hours=hours, at=open_at) is True


def test_no_hours_is_always_open(django_assert_num_queries):
    at = _utc(2025, 6, 8, 3)
    with django_assert_num_queries(0):
        assert hours_is_open(hours=None, at=at) is True
        assert hours_next_opening(hours=None, at=at) is at


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="aware"):
        hours_is_open(hours=_office(), at=datetime(2025, 6, 2, 10))


# --- Next opening --------------------------------------------------------------------------


def test_next_opening_is_now_when_open():
    at = _utc(2025, 6, 2, 9)
    assert hours_next_opening(hours=_office(), at=at) is at


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (_paris(2025, 6, 2, 7), _paris(2025, 6, 2, 8)),  # before opening
        (_paris(2025, 6, 2, 12, 15), _paris(2025, 6, 2, 13)),  # lunch break
        (_paris(2025, 6, 2, 12), _paris(2025, 6, 2, 13)),  # the instant a period closes
        (_paris(2025, 6, 6, 18, 30), _paris(2025, 6, 9, 8)),  # Friday evening: the weekend
        (_utc(2025, 6, 7, 12), _paris(2025, 6, 9, 8)),  # from another zone
    ],
)
def test_next_opening(at, expected):
    opening = hours_next_opening(hours=_office(), at=at)
    assert opening == expected
    assert opening.tzinfo.key == "Europe/Paris"


def test_next_opening_skips_a_holiday():
    hours = _office()
    HolidayFactory(hours=hours, date=date(2025, 6, 9))  # Whit Monday
    assert hours_next_opening(hours=hours, at=_paris(2025, 6, 6, 18, 30)) == _paris(2025, 6, 10, 8)


@pytest.mark.parametrize(
    ("friday_evening", "monday_opening_utc"),
    [
        # Clocks go forward on Sunday 30 March: Monday 08:00 is 06:00 UTC, no longer 07:00.
        (_paris(2025, 3, 28, 18, 30), _utc(2025, 3, 31, 6)),
        # Clocks go back on Sunday 26 October: Monday 08:00 is 07:00 UTC, no longer 06:00.
        (_paris(2025, 10, 24, 18, 30), _utc(2025, 10, 27, 7)),
    ],
)
def test_next_opening_over_a_daylight_saving_weekend(friday_evening, monday_opening_utc):
    opening = hours_next_opening(hours=_office(), at=friday_evening)
    assert opening.astimezone(UTC) == monday_opening_utc
    assert (opening.hour, opening.minute) == (8, 0)


def test_an_opening_inside_the_spring_gap_opens_when_the_clocks_jump():
    """02:30 does not exist on 30 March 2025 in Paris (02:00 → 03:00): it opens at 03:00."""
    hours = _sundays(opens=time(2, 30), closes=time(5))
    opening = hours_next_opening(hours=hours, at=_paris(2025, 3, 29, 23))
    assert opening.astimezone(UTC) == _utc(2025, 3, 30, 1)
    assert (opening.hour, opening.minute, opening.utcoffset()) == (3, 0, timedelta(hours=2))
    assert hours_is_open(hours=hours, at=_utc(2025, 3, 30, 0, 59)) is False  # 01:59 winter time
    assert hours_is_open(hours=hours, at=_utc(2025, 3, 30, 1)) is True  # 03:00 summer time


def test_a_period_wholly_inside_the_spring_gap_does_not_open_that_day():
    hours = _sundays(opens=time(2, 10), closes=time(2, 40))
    opening = hours_next_opening(hours=hours, at=_paris(2025, 3, 29, 23))
    assert opening.astimezone(UTC) == _utc(2025, 4, 6, 0, 10)  # the next Sunday, 02:10


def test_an_opening_inside_the_autumn_fold_opens_at_its_first_occurrence():
    """02:00–03:00 happens twice on 26 October 2025 in Paris (summer time, then winter time)."""
    hours = _sundays(opens=time(2, 30), closes=time(5))
    opening = hours_next_opening(hours=hours, at=_paris(2025, 10, 25, 23))
    assert opening.astimezone(UTC) == _utc(2025, 10, 26, 0, 30)
    assert opening.utcoffset() == timedelta(hours=2)


def test_back_before_the_opening_time_in_the_fold_it_reopens_at_the_second_occurrence():
    hours = _sundays(opens=time(2, 30), closes=time(5))
    assert hours_is_open(hours=hours, at=_utc(2025, 10, 26, 0, 45)) is True  # 02:45 summer
    assert hours_is_open(hours=hours, at=_utc(2025, 10, 26, 1, 10)) is False  # 02:10 winter
    opening = hours_next_opening(hours=hours, at=_utc(2025, 10, 26, 1, 10))
    assert opening.astimezone(UTC) == _utc(2025, 10, 26, 1, 30)
    assert opening.utcoffset() == timedelta(hours=1)


def test_clocks_going_back_into_a_period_reopen_it():
    """01:00–02:30 closes at 02:30 summer time, then the clocks go back to 02:00: open again."""
    hours = _sundays(opens=time(1), closes=time(2, 30))
    opening = hours_next_opening(hours=hours, at=_utc(2025, 10, 26, 0, 40))  # 02:40 summer
    assert opening.astimezone(UTC) == _utc(2025, 10, 26, 1)
    assert (opening.hour, opening.minute, opening.utcoffset()) == (2, 0, timedelta(hours=1))


def test_nothing_opens_within_the_horizon():
    mondays = _office(days=[0])
    tuesday = _paris(2025, 6, 3, 10)
    assert hours_next_opening(hours=mondays, at=tuesday, horizon_days=5) is None
    assert hours_next_opening(hours=mondays, at=tuesday, horizon_days=6) == _paris(2025, 6, 9, 8)


def test_hours_without_periods_never_open():
    assert hours_next_opening(hours=BusinessHoursFactory(), at=_utc(2025, 6, 2, 9)) is None


def test_holidays_over_the_whole_horizon_never_open():
    hours = _office()
    for day in range(8):
        HolidayFactory(hours=hours, date=date(2025, 6, 2) + timedelta(days=day))
    assert hours_next_opening(hours=hours, at=_paris(2025, 6, 2, 9), horizon_days=7) is None


def test_a_negative_horizon_is_refused():
    with pytest.raises(ValueError, match="horizon"):
        hours_next_opening(hours=_office(), at=_utc(2025, 6, 2, 9), horizon_days=-1)


# --- Queues --------------------------------------------------------------------------------


def test_a_queue_without_hours_is_always_open(django_assert_num_queries):
    queue = QueueFactory()
    with django_assert_num_queries(0):
        assert queue_is_open(queue=queue) is True
        assert queue_is_open(queue=queue, at=_paris(2025, 6, 8, 3)) is True


def test_a_queue_follows_its_business_hours():
    hours = _office()
    queue = QueueFactory(organization=hours.organization, business_hours=hours)
    assert queue_is_open(queue=queue, at=_paris(2025, 6, 2, 10)) is True
    assert queue_is_open(queue=queue, at=_paris(2025, 6, 7, 10)) is False


def test_a_queue_is_checked_now_by_default():
    hours = BusinessHoursFactory()  # no periods: closed whatever the time
    queue = QueueFactory(organization=hours.organization, business_hours=hours)
    assert queue_is_open(queue=queue) is False


# --- Queries -------------------------------------------------------------------------------


def test_at_most_two_queries_without_prefetch(django_assert_max_num_queries):
    pk = _office().pk
    HolidayFactory(hours_id=pk, date=date(2025, 6, 9))
    hours = BusinessHours.objects.get(pk=pk)
    with django_assert_max_num_queries(2):
        hours_is_open(hours=hours, at=_paris(2025, 6, 2, 10))
    with django_assert_max_num_queries(2):
        hours_next_opening(hours=hours, at=_paris(2025, 6, 6, 18, 30))


def test_no_query_with_periods_and_holidays_prefetched(django_assert_num_queries):
    hours = _office()
    HolidayFactory(hours=hours, date=date(2025, 6, 9))
    queue = QueueFactory(organization=hours.organization, business_hours=hours)
    queue = (
        Queue.objects.select_related("business_hours")
        .prefetch_related("business_hours__periods", "business_hours__holidays")
        .get(pk=queue.pk)
    )
    with django_assert_num_queries(0):
        assert queue_is_open(queue=queue, at=_paris(2025, 6, 9, 10)) is False
        assert queue_is_open(queue=queue, at=_paris(2025, 6, 10, 10)) is True
        opening = hours_next_opening(hours=queue.business_hours, at=_paris(2025, 6, 6, 18, 30))
        assert opening == _paris(2025, 6, 10, 8)
        hours_describe(hours=queue.business_hours)


# --- Weekly schedule -----------------------------------------------------------------------


def test_describe_lists_the_week_monday_first():
    hours = _office(days=[0, 2])
    with translation.override("en"):
        assert hours_describe(hours=hours) == [
            ("Monday", "08:00–12:00, 13:00–18:00"),
            ("Tuesday", "Closed"),
            ("Wednesday", "08:00–12:00, 13:00–18:00"),
            ("Thursday", "Closed"),
            ("Friday", "Closed"),
            ("Saturday", "Closed"),
            ("Sunday", "Closed"),
        ]


# --- Admin ---------------------------------------------------------------------------------

HOURS_PERMISSIONS = [
    f"{action}_{model}"
    for action in ("view", "add", "change", "delete")
    for model in ("businesshours", "businesshoursperiod", "holiday")
]


@pytest.fixture
def hours_admin(admin_a):
    """admin_a with the business-hours permissions, which apps/accounts/roles.py lacks so far."""
    admin_a.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="queues", codename__in=HOURS_PERMISSIONS)
    )
    return admin_a


def _add_form(**extra):
    return {
        "name": "Front office",
        "time_zone": "Europe/Paris",
        "periods-TOTAL_FORMS": "0",
        "periods-INITIAL_FORMS": "0",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
        **extra,
    }


def test_changelist_shows_own_hours_and_whether_they_are_open(hours_admin, org_b, client):
    always = BusinessHoursFactory(organization=hours_admin.organization, name="Round the clock")
    for weekday in range(7):
        PeriodFactory(hours=always, weekday=weekday, opens=time(0), closes=time(23, 59, 59, 999999))
    BusinessHoursFactory(organization=hours_admin.organization, name="Never")
    BusinessHoursFactory(organization=org_b, name="Beta hours")
    client.force_login(hours_admin)
    response = client.get(reverse("admin:queues_businesshours_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Round the clock" in body
    assert "Never" in body
    assert "Beta hours" not in body
    assert "Open now" in body
    assert "icon-yes.svg" in body
    assert "icon-no.svg" in body


def test_changelist_queries_do_not_grow_with_rows(hours_admin, client):
    client.force_login(hours_admin)
    url = reverse("admin:queues_businesshours_changelist")
    _office(organization=hours_admin.organization)
    with CaptureQueriesContext(connection) as one_row:
        client.get(url)
    for _ in range(3):
        hours = _office(organization=hours_admin.organization)
        HolidayFactory(hours=hours, date=timezone.now().date())
    with CaptureQueriesContext(connection) as four_rows:
        client.get(url)
    assert len(four_rows) == len(one_row)


def test_add_page_renders_with_both_inlines(hours_admin, client):
    client.force_login(hours_admin)
    response = client.get(reverse("admin:queues_businesshours_add"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="periods-TOTAL_FORMS"' in body
    assert 'name="holidays-TOTAL_FORMS"' in body
    assert 'name="organization"' not in body


def test_adding_hours_with_a_period_and_a_holiday(hours_admin, client):
    client.force_login(hours_admin)
    response = client.post(
        reverse("admin:queues_businesshours_add"),
        _add_form(
            **{
                "periods-TOTAL_FORMS": "1",
                "periods-0-weekday": "0",
                "periods-0-opens": "08:00",
                "periods-0-closes": "18:00",
                "holidays-TOTAL_FORMS": "1",
                "holidays-0-date": "2025-12-25",
                "holidays-0-name": "Christmas",
            }
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    hours = BusinessHours.objects.get(name="Front office")
    assert hours.organization == hours_admin.organization
    assert list(hours.periods.values_list("weekday", "opens", "closes")) == [(0, time(8), time(18))]
    assert list(hours.holidays.values_list("date", flat=True)) == [date(2025, 12, 25)]


def test_a_period_closing_before_it_opens_is_a_form_error(hours_admin, client):
    client.force_login(hours_admin)
    response = client.post(
        reverse("admin:queues_businesshours_add"),
        _add_form(
            **{
                "periods-TOTAL_FORMS": "1",
                "periods-0-weekday": "0",
                "periods-0-opens": "18:00",
                "periods-0-closes": "08:00",
            }
        ),
    )
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors
    assert not BusinessHours.objects.exists()


def test_another_organization_cannot_open_the_hours(hours_admin, org_b, client):
    theirs = BusinessHoursFactory(organization=org_b)
    client.force_login(hours_admin)
    response = client.get(reverse("admin:queues_businesshours_change", args=[theirs.pk]))
    assert response.status_code == 302  # "does not exist" (the admin's redirect)
