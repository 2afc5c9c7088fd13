from __future__ import annotations

import os
from pathlib import Path

import pytest

from receiver.errors import InvalidTokenError
from receiver.settings import Settings
from receiver.tokens import CallbackTokens, load_service_secret

tokens = CallbackTokens(b"s" * 32)


def test_round_trip() -> None:
    assert tokens.verify("apimodels", tokens.mint("apimodels", "tsk_1")) == "tsk_1"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "tsk_1",
        "tsk_1.",
        ".abc",
        "tsk_2." + tokens.mint("apimodels", "tsk_1").split(".")[1],  # MAC of another task
        tokens.mint("apimodels", "tsk_1")[:-1] + "A",
    ],
)
def test_forged_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        tokens.verify("apimodels", token)


def test_token_is_bound_to_the_provider() -> None:
    with pytest.raises(InvalidTokenError):
        tokens.verify("apimall", tokens.mint("apimodels", "tsk_1"))


def test_token_depends_on_the_secret() -> None:
    other = CallbackTokens(b"t" * 32)
    with pytest.raises(InvalidTokenError):
        other.verify("apimodels", tokens.mint("apimodels", "tsk_1"))


def test_generated_secret_is_kept_private_and_stable(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "d")
    first = load_service_secret(settings)
    assert len(first) >= 32
    assert load_service_secret(settings) == first
    assert os.stat(tmp_path / "d" / "secret").st_mode & 0o777 == 0o600


def test_configured_secret_wins(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, secret="from-the-env-1234")
    assert load_service_secret(settings) == b"from-the-env-1234"
    assert not (tmp_path / "secret").exists()
