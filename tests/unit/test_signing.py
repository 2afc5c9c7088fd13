"""Signatures genhook sends are what the Standard Webhooks reference library accepts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from receiver.delivery.signing import (
    generate_secret,
    secrets_in_use,
    validate_secret,
    webhook_headers,
)
from receiver.errors import InvalidSubscriberError

BODY = b'{"id":"evt_1","type":"task.completed","data":{"prompt":"caf\xc3\xa9"}}'


def test_generated_secrets_are_valid_and_distinct() -> None:
    a, b = generate_secret(), generate_secret()
    assert a != b
    assert a.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 32
    assert validate_secret(a) == a


@pytest.mark.parametrize(
    ("secret", "words"),
    [
        ("abc", "starts with 'whsec_'"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "16 to 64 bytes"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "16 to 64 bytes"),
    ],
)
def test_malformed_secrets_are_refused_clearly(secret: str, words: str) -> None:
    with pytest.raises(InvalidSubscriberError, match=words) as info:
        validate_secret(secret)
    assert info.value.code == "invalid_secret"


def test_reference_library_verifies_what_we_sign() -> None:
    secret = generate_secret()
    now = datetime.now(UTC)
    headers = webhook_headers("evt_1", now, BODY, [secret])
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers)["type"] == "task.completed"
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"completed", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "evt_2"})


def test_during_rotation_both_secrets_verify() -> None:
    old, new = generate_secret(), generate_secret()
    now = datetime.now(UTC)
    live = secrets_in_use(new, old, now + timedelta(hours=1), now)
    assert live == [new, old]
    headers = webhook_headers("evt_1", now, BODY, live)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)


def test_after_the_window_only_the_new_secret_signs() -> None:
    old, new = generate_secret(), generate_secret()
    now = datetime.now(UTC)
    live = secrets_in_use(new, old, now - timedelta(seconds=1), now)
    assert live == [new]
    headers = webhook_headers("evt_1", now, BODY, live)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, headers)
