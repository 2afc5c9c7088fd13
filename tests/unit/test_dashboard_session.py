"""The dashboard's session cookie: reads only, and never a redirect off-site."""

from __future__ import annotations

import pytest

from receiver.web.dashboard.session import cookie_grants, safe_next, session_value


def test_the_cookie_proves_the_token_for_reads_only() -> None:
    cookie = session_value("s3cret")
    assert cookie != "s3cret" and "s3cret" not in cookie
    assert cookie_grants(cookie, "s3cret", "GET")
    assert cookie_grants(cookie, "s3cret", "HEAD")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert not cookie_grants(cookie, "s3cret", method)
    assert not cookie_grants(cookie, "another-token", "GET")  # a new token ends sessions
    assert not cookie_grants(None, "s3cret", "GET")
    assert not cookie_grants("", "s3cret", "GET")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/tasks/tsk_1", "/tasks/tsk_1"),
        ("/?status=failed", "/?status=failed"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("tasks", "/"),
    ],
)
def test_after_login_only_paths_on_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
