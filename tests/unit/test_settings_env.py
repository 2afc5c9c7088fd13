"""Settings come from the environment or a ``.env`` file (the README's Configuration).

The environment wins over ``.env``; nested sections (``GENHOOK_<SECTION>_<FIELD>``)
read from it too; every other test builds ``Settings(_env_file=None)`` so a
developer's own ``.env`` can never change what the suite sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from receiver.settings import Settings

DOTENV = """\
GENHOOK_POLL_TICK_SECONDS=7
GENHOOK_APIMALL_POLL_FIRST=[1,2]
GENHOOK_PUBLIC_URL=http://from-dotenv.example
GENHOOK_APIMART_API_KEY=key-from-dotenv
"""


@pytest.fixture
def in_a_directory_with_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("GENHOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(DOTENV)
    return tmp_path


def test_settings_are_read_from_dotenv(in_a_directory_with_dotenv: Path) -> None:
    settings = Settings()
    assert settings.poll.tick_seconds == 7
    assert tuple(settings.apimall.poll_first) == (1, 2)
    assert str(settings.public_url).startswith("http://from-dotenv.example")
    api_key = settings.apimart.api_key
    assert api_key is not None and api_key.get_secret_value() == "key-from-dotenv"


def test_the_environment_wins_over_dotenv(
    in_a_directory_with_dotenv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENHOOK_POLL_TICK_SECONDS", "3")
    assert Settings().poll.tick_seconds == 3


def test_without_the_env_file_the_defaults_hold(in_a_directory_with_dotenv: Path) -> None:
    settings = Settings(_env_file=None)
    assert settings.poll.tick_seconds == 1
    assert settings.apimart.api_key is None
