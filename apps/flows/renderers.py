"""One step, several channels: TwiML for voice, messages with quick-reply buttons for chat.

Handing a caller over (enqueue, voicemail, callback, transfer) is the voice or chat part's job:
``render_voice`` returns the decision for those instead of TwiML.
"""

from twilio.twiml.voice_response import Gather, VoiceResponse

from apps.flows.engine import Step

HANDOFF_ACTIONS = {"enqueue", "voicemail", "callback", "transfer"}

# Twilio <Say> takes a locale; a flow speaks in the contact's language code.
VOICE_LANGUAGES = {
    "en": "en-US",
    "fr": "fr-FR",
    "es": "es-ES",
    "de": "de-DE",
    "it": "it-IT",
    "pt": "pt-BR",
    "nl": "nl-NL",
}


def voice_language(language: str) -> str:
    if "-" in language:
        return language
    return VOICE_LANGUAGES.get(language, "en-US")


def _say_prompts(target, step: Step) -> None:
    for prompt in step.prompts:
        if prompt.get("audio"):
            target.play(prompt["audio"])
        elif prompt.get("text"):
            target.say(
                prompt["text"], language=voice_language(prompt.get("language") or step.language)
            )


def render_voice(step: Step, *, action_url: str) -> str | dict:
    """TwiML for the step (prompts, then a ``<Gather>`` posting the answer to ``action_url``, or
    ``<Hangup>``), or the decision itself when the call is handed over."""
    if step.decision is not None and step.decision.get("action") in HANDOFF_ACTIONS:
        return step.decision
    response = VoiceResponse()
    question = step.question
    if question is None:
        _say_prompts(response, step)
        response.hangup()
        return str(response)
    options = {
        "input": "dtmf speech",
        "action": action_url,
        "method": "POST",
        "timeout": question["timeout"],
        "language": voice_language(step.language),
        "action_on_empty_result": True,  # a silence comes back too: the flow counts timeouts
    }
    if question["kind"] == "collect":
        if question["input"] == "digits":
            options["input"] = "dtmf"
        if question.get("finish_on_key"):
            options["finish_on_key"] = question["finish_on_key"]
    if question.get("num_digits"):
        options["num_digits"] = question["num_digits"]
    hints = [keyword for choice in question["choices"] for keyword in choice["keywords"]]
    if hints:
        options["hints"] = ", ".join(dict.fromkeys(hints))
    gather = Gather(**options)
    _say_prompts(gather, step)
    response.append(gather)
    # No answer at all: post an empty one so the flow applies its timeout rule.
    response.redirect(action_url, method="POST")
    return str(response)


def render_chat(step: Step) -> list[dict]:
    """Messages to send: ``{"text": ..., "buttons": [{"id": "1", "title": "Billing"}]}``; the
    buttons ride on the last message. Button ids, keys and keywords are all accepted back."""
    messages = [{"text": p["text"], "buttons": []} for p in step.prompts if p.get("text")]
    if step.question and step.question["choices"]:
        buttons = [{"id": c["id"], "title": c["title"]} for c in step.question["choices"]]
        if not messages:
            messages.append({"text": "", "buttons": []})
        messages[-1]["buttons"] = buttons
    return messages
