"""``GENHOOK_ASSETS_STORE`` and the S3 settings: what is accepted, and how a refusal
reads (one line per variable, named as it is set, at start)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from receiver.assets.location import S3Location, parse_store_url
from receiver.settings import Settings, describe_invalid


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://genhook-assets", "genhook-assets", ""),
        ("s3://genhook-assets/", "genhook-assets", ""),
        ("s3://genhook.assets.example/prod/images/", "genhook.assets.example", "prod/images"),
        ("S3://abc/x_y-z.1", "abc", "x_y-z.1"),
    ],
)
def test_store_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert parse_store_url(url) == S3Location(bucket, prefix)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("genhook-assets", "must be s3://bucket"),
        ("https://genhook-assets.s3.amazonaws.com/x", "must be s3://bucket"),
        ("file:///var/lib/genhook", "must be s3://bucket"),
        ("s3://", "is not an S3 bucket name"),
        ("s3://ab", "is not an S3 bucket name"),
        ("s3://Genhook", "is not an S3 bucket name"),
        ("s3://genhook_assets", "is not an S3 bucket name"),
        ("s3://-genhook", "is not an S3 bucket name"),
        ("s3://genhook..assets", "is not an S3 bucket name"),
        ("s3://genhook/a//b", "each part between slashes"),
        ("s3://genhook/a/../b", "each part between slashes"),
        ("s3://genhook/a b", "each part between slashes"),
    ],
)
def test_unusable_store_urls_are_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_store_url(url)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_unset_means_the_local_disk() -> None:
    assert settings().assets.s3_location is None
    assert settings(assets_store="").assets.s3_location is None
    assert settings(assets_store="s3://abc/p").assets.s3_location == S3Location("abc", "p")


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        settings(**values)
    return describe_invalid(refused.value)


def test_a_refusal_names_each_variable_once_in_one_line() -> None:
    message = refusal(assets_store="http://x", assets_s3_endpoint="127.0.0.1:9000")
    assert message == (
        "invalid settings: GENHOOK_ASSETS_STORE: must be s3://bucket or s3://bucket/prefix, "
        "not 'http://x'; GENHOOK_ASSETS_S3_ENDPOINT: must be an http:// or https:// URL, "
        "not '127.0.0.1:9000'"
    )
    assert "GENHOOK_PUBLIC_URL: must start with http" in refusal(public_url="ftp://x")
    assert refusal(apimart_poll_first=(1, "x")).startswith(
        "invalid settings: GENHOOK_APIMART_POLL_FIRST: "
    )


def test_credentials_come_in_pairs() -> None:
    message = refusal(assets_store="s3://abc", assets_s3_access_key_id="AKIA")
    assert message.startswith("invalid settings: GENHOOK_ASSETS_*: set both ")
    both = settings(assets_s3_access_key_id="AKIA", assets_s3_secret_access_key="topsecret")
    assert both.assets.s3_secret_access_key is not None
    assert "topsecret" not in repr(both)  # never printed with the settings


def test_serving_mode_and_lifetime_are_bounded() -> None:
    assert settings().assets.s3_serve == "stream"
    assert "GENHOOK_ASSETS_S3_SERVE" in refusal(assets_s3_serve="proxy")
    assert "GENHOOK_ASSETS_S3_REDIRECT_SECONDS" in refusal(assets_s3_redirect_seconds=0)
