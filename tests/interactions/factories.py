"""Call recordings (a voice interaction's, with a stored WAV)."""

import factory
from django.core.files.base import ContentFile

from apps.interactions.models import Channel, Recording, State, Transcript
from tests.factories import InteractionFactory

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28


class RecordingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recording
        skip_postgeneration_save = True

    interaction = factory.SubFactory(InteractionFactory, channel=Channel.VOICE, state=State.CLOSED)
    organization = factory.LazyAttribute(lambda o: o.interaction.organization)
    provider_sid = factory.Sequence(lambda n: f"RE{n:032d}")
    call_sid = factory.Sequence(lambda n: f"CA{n:032d}")
    status = Recording.Status.COMPLETED
    duration = 42
    content_type = "audio/x-wav"

    @factory.post_generation
    def audio(self, create, extracted, **kwargs):
        if extracted is not False:
            self.file.save(f"{self.provider_sid}.wav", ContentFile(WAV), save=True)


class TranscriptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transcript

    recording = factory.SubFactory(RecordingFactory)
    organization = factory.LazyAttribute(lambda o: o.recording.organization)
    provider_sid = factory.Sequence(lambda n: f"TR{n:032d}")
    text = "I would like a refund for my last invoice."
    language = "en"
