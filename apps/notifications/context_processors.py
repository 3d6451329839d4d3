from apps.notifications.selectors import notification_unread_count


def unread(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.organization_id:
        return {}
    return {"unread_notifications": notification_unread_count(user=user)}
