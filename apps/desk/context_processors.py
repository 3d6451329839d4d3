from apps.desk.selectors import chat_unread


def unread_chat(request):
    """Team chat messages the signed-in person has not read (the menu's badge)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.organization_id:
        return {}
    return {"unread_chat": sum(chat_unread(user=user).values())}
