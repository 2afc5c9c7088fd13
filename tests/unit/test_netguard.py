"""Outbound URLs that point into our own network are refused unless allowed."""

from __future__ import annotations

import ipaddress

import pytest

from receiver.errors import TargetRefusedError
from receiver.netguard import check_url, is_public_address, split_http_url


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        # every IPv6 form that carries 169.254.169.254 (the metadata service), or a
        # private IPv4 address, is judged as that IPv4 address
        "64:ff9b::a9fe:a9fe",  # NAT64, well-known prefix
        "64:ff9b:1::a9fe:a9fe",  # NAT64, local-use prefix
        "2002:a9fe:a9fe::",  # 6to4
        "2002:0a00:0001::",  # 6to4 of 10.0.0.1
        "2001:0:4136:e378::5601:5601",  # Teredo, client 169.254.169.254
        "::a9fe:a9fe",  # IPv4-compatible
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    ],
)
def test_private_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::",
    ],
)
def test_public_addresses_are(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


async def test_private_literals_and_localhost_are_refused() -> None:
    for url in (
        "http://127.0.0.1:8000/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/hook",
    ):
        with pytest.raises(TargetRefusedError, match="private, loopback or link-local") as info:
            await check_url(url, allow_private=False, allow_hint="set X")
        assert "(set X)" in str(info.value)  # says how to allow it
        await check_url(url, allow_private=True)  # the same URL, allowed: it must not raise


async def test_public_literal_passes() -> None:
    await check_url("https://8.8.8.8/hook", allow_private=False)


async def test_only_http_urls() -> None:
    for url in ("ftp://example.com/x", "file:///etc/passwd", "http:///nohost", "hook"):
        with pytest.raises(TargetRefusedError):
            await check_url(url, allow_private=True)


def test_ports() -> None:
    assert split_http_url("https://example.com/x") == ("example.com", 443)
    assert split_http_url("http://example.com:8080/x") == ("example.com", 8080)
    with pytest.raises(ValueError, match="invalid port"):
        split_http_url("http://example.com:99999/x")


async def test_embedded_forms_are_refused_as_targets() -> None:
    for url in ("http://[64:ff9b::a9fe:a9fe]/latest", "http://[2002:a9fe:a9fe::]/latest"):
        with pytest.raises(TargetRefusedError, match="private"):
            await check_url(url, allow_private=False)
