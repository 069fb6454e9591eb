"""Local stand-ins for services outside the machine (Twilio's Messages API), for tests only."""

from tests.stubs.twilio_stub import Reply, TwilioStub

__all__ = ["Reply", "TwilioStub"]
