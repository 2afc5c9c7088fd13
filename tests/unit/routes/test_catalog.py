"""Routes are built in, loaded from a TOML file and a TOML setting, later definitions
replacing earlier ones, and every broken definition is refused at load with one error
that names where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.errors import ConfigurationError, RouteDefinitionError
from receiver.providers import registry
from receiver.routes import BUILTIN_ROUTES, EXTRA_SOURCE, Route, Target, load_routes
from receiver.routes.mapping import DEFAULT_FIELDS

PROVIDERS = frozenset(registry.ADAPTER_CLASSES)

FAST_BANANA = """
[routes.fast-banana]
description = "Nano Banana, apimodels.app first"
targets = [
  { provider = "apimodels", model = "gemini-2.5-flash-image" },
  { provider = "apimall", model = "nano-banana", fields = { image_urls = "input_image" } },
]
"""


def load(file: Path | None = None, extra: str | None = None) -> dict[str, Route]:
    return load_routes(file, extra, providers=PROVIDERS)


def refusal(extra: str) -> RouteDefinitionError:
    with pytest.raises(RouteDefinitionError) as caught:
        load(extra=extra)
    return caught.value


def test_builtin_routes_in_their_documented_order() -> None:
    assert {name: [t.label for t in r.targets] for name, r in BUILTIN_ROUTES.items()} == {
        "nano-banana": [
            "apimall/nano-banana",
            "apimodels/gemini-2.5-flash-image",
            "apimart/gemini-2.5-flash-image-preview",
        ],
        "nano-banana-pro": ["apimall/nano-banana-pro", "apimodels/gemini-3-pro-image"],
    }


def test_builtin_targets_name_catalogued_models_and_default_fields() -> None:
    for route in BUILTIN_ROUTES.values():
        assert route.description
        for target in route.targets:
            assert target.model in registry.CATALOGS[target.provider].model_names
            assert dict(target.fields) == dict(DEFAULT_FIELDS[target.provider])


def test_no_file_and_no_setting_is_the_builtins() -> None:
    assert load() == dict(BUILTIN_ROUTES)
    assert load(Path("/nonexistent/routes.toml"), "  ") == dict(BUILTIN_ROUTES)


def test_a_file_adds_routes_with_fields_over_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / "routes.toml"
    file.write_text(FAST_BANANA)
    routes = load(file)
    assert set(routes) == {"nano-banana", "nano-banana-pro", "fast-banana"}
    route = routes["fast-banana"]
    assert route.description == "Nano Banana, apimodels.app first"
    assert route.targets == (
        Target("apimodels", "gemini-2.5-flash-image"),
        Target("apimall", "nano-banana", {"image_urls": "input_image"}),
    )
    assert route.targets[1].fields["image_urls"] == "input_image"
    assert route.targets[1].fields["num_images"] == "num_images"


def test_later_definitions_replace_earlier_ones(tmp_path: Path) -> None:
    file = tmp_path / "routes.toml"
    file.write_text(
        '[routes.nano-banana]\ntargets = [{ provider = "apimart", model = '
        '"gemini-2.5-flash-image-preview" }]\n' + FAST_BANANA
    )
    setting = '[routes.fast-banana]\ntargets = [{ provider = "apimall", model = "nano-banana" }]'
    routes = load(file, setting)
    assert [t.label for t in routes["nano-banana"].targets] == [
        "apimart/gemini-2.5-flash-image-preview"
    ]
    assert routes["nano-banana"].description == ""
    assert [t.label for t in routes["fast-banana"].targets] == ["apimall/nano-banana"]
    assert routes["nano-banana-pro"] == BUILTIN_ROUTES["nano-banana-pro"]


def test_describe_is_json_for_the_api() -> None:
    route = load(extra=FAST_BANANA)["fast-banana"]
    assert route.describe()["targets"][1] == {
        "provider": "apimall",
        "model": "nano-banana",
        "fields": {
            "prompt": "prompt",
            "aspect_ratio": "aspect_ratio",
            "num_images": "num_images",
            "resolution": "resolution",
            "image_urls": "input_image",
        },
    }


def test_targets_are_values() -> None:
    target = BUILTIN_ROUTES["nano-banana"].targets[2]
    assert Target(target.provider, target.model, target.fields) == target
    assert hash(Target(target.provider, target.model)) == hash(target)
    with pytest.raises(TypeError):
        target.fields["n"] = "x"  # type: ignore[index]


def test_the_error_names_file_route_and_target(tmp_path: Path) -> None:
    file = tmp_path / "routes.toml"
    file.write_text(
        '[routes.ok]\ntargets = [{ provider = "apimall", model = "nano-banana" }]\n'
        '[routes.broken]\ntargets = [{ provider = "apimall", model = "nano-banana" },'
        ' { provider = "kie", model = "x" }]\n'
    )
    with pytest.raises(RouteDefinitionError) as caught:
        load(file)
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert (error.source, error.route, error.target) == (str(file), "broken", 1)
    assert str(error).startswith(f"{file}, route 'broken', target 1: unknown provider 'kie'")


@pytest.mark.parametrize(
    ("toml", "route", "target", "words"),
    [
        ('[routes.r]\ntargets = [{ provider = "kie", model = "m" }]', "r", 0, "unknown provider"),
        ("[routes.r]\ntargets = []", "r", None, "must not be empty"),
        ('[routes.r]\ndescription = "no targets"', "r", None, "targets must be an array"),
        ('[routes.r]\ntargets = "apimall"', "r", None, "targets must be an array"),
        ("[routes.r]\ntargets = [1]", "r", 0, "must be a table"),
        ('[routes.r]\ntargets = [{ provider = 3, model = "m" }]', "r", 0, "provider must be"),
        ('[routes.r]\ntargets = [{ provider = "apimall" }]', "r", 0, "model must be"),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana-2" }]',
            "r",
            0,
            "apimall has no model 'nano-banana-2'",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimodels", model = "nano-banana" }]',
            "r",
            0,
            "apimodels has no model",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana", '
            'fields = { seed = "seed" } }]',
            "r",
            0,
            "'seed' is not a route field",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana", '
            "fields = { num_images = 2 } }]",
            "r",
            0,
            "fields.num_images must be a provider field name",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana", fields = "x" }]',
            "r",
            0,
            "fields must be a table",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimodels", model = "gemini-3-pro-image", '
            'fields = { num_images = "n" } }]',
            "r",
            0,
            "documents no field 'n'",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana", '
            'fields = { num_images = "seed", aspect_ratio = "resolution" } }]',
            "r",
            0,
            "both map to resolution",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana", '
            'fields = { image_urls = "google_search" } }]',
            "r",
            0,
            "of type boolean, which cannot carry image_urls",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana", modle = "x" }]',
            "r",
            0,
            "unknown key(s) modle",
        ),
        (
            '[routes.r]\ntargets = [{ provider = "apimall", model = "nano-banana" }, '
            '{ provider = "apimall", model = "nano-banana" }]',
            "r",
            1,
            "listed twice",
        ),
        (
            '[routes.r]\ndescription = 3\ntargets = [{ provider = "apimall", model = "x" }]',
            "r",
            None,
            "description must be a string",
        ),
        (
            '[routes.r]\ntarget = [{ provider = "apimall", model = "nano-banana" }]',
            "r",
            None,
            "unknown key(s) target",
        ),
        (
            '[routes.apimall]\ntargets = [{ provider = "apimall", model = "nano-banana" }]',
            "apimall",
            None,
            "named like a provider",
        ),
        (
            '[routes."a b"]\ntargets = [{ provider = "apimall", model = "nano-banana" }]',
            "a b",
            None,
            "a route name is",
        ),
        ("routes = 3", None, None, "routes must be a table"),
        ("[route.r]\ntargets = []", None, None, "unknown top-level key(s) route"),
        ("[routes.r\n", None, None, "not valid TOML"),
    ],
)
def test_broken_definitions_are_refused(
    toml: str, route: str | None, target: int | None, words: str
) -> None:
    error = refusal(toml)
    assert (error.source, error.route, error.target) == (EXTRA_SOURCE, route, target)
    assert words in str(error)
    assert str(error).startswith(EXTRA_SOURCE)


def test_a_model_is_checked_only_where_a_catalog_is_known() -> None:
    routes = load_routes(
        None,
        '[routes.r]\ntargets = [{ provider = "local", model = "anything" }]',
        providers={"local"},
        catalogs={},
    )
    assert routes["r"].targets == (Target("local", "anything"),)
    assert dict(routes["r"].targets[0].fields) == {}


def test_unreadable_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    binary = tmp_path / "routes.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(RouteDefinitionError, match="not UTF-8"):
        load(binary)
    with pytest.raises(RouteDefinitionError, match="cannot be read") as caught:
        load(tmp_path)  # a directory
    assert caught.value.source == str(tmp_path)


def test_the_setting_is_named_as_the_caller_says() -> None:
    with pytest.raises(RouteDefinitionError) as caught:
        load_routes(
            None, "[routes.r]\ntargets = []", providers=PROVIDERS, extra_source="GENHOOK_ROUTES"
        )
    assert str(caught.value).startswith("GENHOOK_ROUTES, route 'r':")


def test_routes_import_no_io_library() -> None:
    import ast

    banned = (
        "httpx",
        "sqlalchemy",
        "sqlmodel",
        "starlette",
        "storage",
        "receiver.providers.registry",
    )
    for module in ("__init__", "catalog", "mapping"):
        source = (Path(__file__).parents[3] / "receiver" / "routes" / f"{module}.py").read_text()
        for node in ast.walk(ast.parse(source)):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            assert not [n for n in names if n.startswith(banned)], (module, names)
