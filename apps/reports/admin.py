from apps.reports.admin_live import *  # noqa
