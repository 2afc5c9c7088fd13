"""The simulator's pure parts and its CLI: PNG writer, directives, plans, config.

No server here; these pin down the building blocks the HTTP tests rely on.
"""

from __future__ import annotations

import random
import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
import typer
from typer.testing import CliRunner

from receiver.cli import simulate as cli
from receiver.errors import GenhookError
from receiver.simulator import SimulatorConfig, SimulatorError
from receiver.simulator.directives import Directives, parse_directives
from receiver.simulator.errors import ApiError
from receiver.simulator.images import encode_png, png_dimensions, task_image
from receiver.simulator.state import Phase, SimTask, plan_task

T0 = datetime(2026, 1, 1, tzinfo=UTC)


# -- PNG writer --------------------------------------------------------------------------


def decode_rgb(data: bytes) -> list[bytes]:
    """Rows of a truecolour PNG written with filter 0 (what encode_png writes)."""
    width, height = struct.unpack(">II", data[16:24])
    idat_length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_length])
    stride = 1 + 3 * width
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(row[0] == 0 for row in rows)
    return [row[1:] for row in rows]


def test_png_round_trips_pixels_and_checksums() -> None:
    rows = [bytes([255, 0, 0, 0, 255, 0]), bytes([0, 0, 255, 9, 9, 9])]
    data = encode_png(2, 2, rows)
    assert png_dimensions(data) == (2, 2)
    assert decode_rgb(data) == rows
    offset = 8
    while offset < len(data):  # every chunk's CRC is right
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind_and_data = data[offset + 4 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind_and_data) == crc
        offset += 12 + length
    assert offset == len(data)


def test_png_refuses_mismatched_rows() -> None:
    with pytest.raises(ValueError):
        encode_png(2, 2, [b"\x00" * 6])
    with pytest.raises(ValueError):
        encode_png(0, 1, [b""])
    with pytest.raises(ValueError):
        png_dimensions(b"GIF89a" + b"\x00" * 30)


def test_task_images_are_deterministic_gradients() -> None:
    image = task_image("task_a", 0, 16)
    assert image == task_image("task_a", 0, 16)
    assert image != task_image("task_a", 1, 16) != task_image("task_b", 0, 16)
    rows = decode_rgb(image)
    assert len(rows) == 16
    corner_a, corner_b = rows[0][:3], rows[-1][-3:]
    assert corner_a != corner_b  # a gradient, not a flat fill
    assert rows[3][3 * 5 : 3 * 6] == rows[5][3 * 3 : 3 * 4]  # same anti-diagonal, same colour


# -- directives ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a plain prompt", Directives()),
        ("x [sim:fail]", Directives(fail=True)),
        (
            "x [sim:fail=Content policy violation]",
            Directives(fail=True, fail_message="Content policy violation"),
        ),
        ("[SIM:NEVER] x", Directives(never=True)),
        ("x [sim:duration=2.5] [sim:drop]", Directives(duration=2.5, drop=True)),
        ("[sim:blocked][sim:succeed]", Directives(blocked=True, succeed=True)),
        ("brackets [like this] stay prompt text", Directives()),
    ],
)
def test_directives_parse(prompt: str, expected: Directives) -> None:
    assert parse_directives(prompt) == expected


@pytest.mark.parametrize(
    "prompt",
    ["[sim:boom]", "[sim:duration=-1]", "[sim:duration=]", "[sim:duration=nan]",
     "[sim:never=yes]", "[sim:fail][sim:succeed]"],
)  # fmt: skip
def test_bad_directives_are_a_400(prompt: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_directives(prompt)
    assert raised.value.status == 400
    assert isinstance(raised.value, SimulatorError) and isinstance(raised.value, GenhookError)


# -- plans and phases ------------------------------------------------------------------


def make_task(config: SimulatorConfig, directives: Directives) -> SimTask:
    plan = plan_task(config, directives, random.Random(1), T0)
    return SimTask("t", "apimart", "m", {}, 1, T0, plan, "http://sim", directives)


def test_plan_scales_duration_and_splits_pending() -> None:
    config = SimulatorConfig(task_duration=10, pending_share=0.3, time_factor=0.5)
    task = make_task(config, Directives())
    assert task.plan.processing_at == T0 + timedelta(seconds=1.5)
    assert task.plan.finishes_at == T0 + timedelta(seconds=5)
    assert task.phase_at(T0) is Phase.PENDING
    assert task.phase_at(T0 + timedelta(seconds=1.5)) is Phase.PROCESSING
    assert task.progress_at(T0 + timedelta(seconds=3.25)) == 50
    assert task.phase_at(T0 + timedelta(seconds=5)) is Phase.COMPLETED
    assert task.finished_at(T0 + timedelta(seconds=4)) is None
    assert task.updated_at(T0 + timedelta(seconds=9)) == T0 + timedelta(seconds=5)


def test_directives_override_the_plan() -> None:
    config = SimulatorConfig(task_duration=10, failure_rate=1.0)
    assert make_task(config, Directives(duration=2)).plan.finishes_at == T0 + timedelta(seconds=2)
    assert make_task(config, Directives()).plan.outcome is Phase.FAILED
    assert make_task(config, Directives(succeed=True)).plan.outcome is Phase.COMPLETED
    endless = make_task(config, Directives(never=True))
    assert endless.plan.finishes_at is None
    assert endless.phase_at(T0 + timedelta(days=365)) is Phase.PROCESSING


def test_zero_failure_rate_rolls_no_dice() -> None:
    rng = random.Random(5)
    plan_task(SimulatorConfig(), Directives(), rng, T0)
    assert rng.random() == random.Random(5).random()


# -- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"time_factor": 0},
        {"failure_rate": 1.5},
        {"callback_drop_rate": -0.1},
        {"fault_scope": ["apimarts"]},
        {"callback_backoff": [1, -2]},
        {"unknown_knob": True},
    ],
)
def test_config_refuses_nonsense(values: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        SimulatorConfig(**values)


def test_retry_after_is_whole_scaled_seconds() -> None:
    assert SimulatorConfig(retry_after=1, time_factor=0.01).retry_after_header() == "1"
    assert SimulatorConfig(retry_after=250, time_factor=0.01).retry_after_header() == "3"
    assert SimulatorConfig(retry_after=0).retry_after_header() == "0"
    assert SimulatorConfig(retry_after=30).retry_after_header() == "30"


# -- CLI ---------------------------------------------------------------------------------


def test_cli_builds_the_config_and_prints_the_banner(monkeypatch: pytest.MonkeyPatch) -> None:
    started: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        started.update(kwargs, config=app.state.simulator.config)

    monkeypatch.setattr("uvicorn.run", fake_run)  # imported when the command runs
    command = typer.Typer()
    command.command()(cli.simulate)
    result = CliRunner().invoke(
        command,
        [
            "--port", "8123", "--time-factor", "0.1", "--seed", "9", "--failure-rate", "0.2",
            "--callback-drop-rate", "0.3", "--callback-duplicates", "2", "--callback-delay", "4",
            "--callback-reorder", "--rate-limit-rate", "0.1", "--retry-after", "7",
            "--server-error-rate", "0.05", "--slow-response", "1.5",
            "--fault-scope", "apimart", "--fault-scope", "/files",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config: SimulatorConfig = started["config"]
    assert (started["host"], started["port"]) == ("127.0.0.1", 8123)
    assert config.time_factor == 0.1 and config.seed == 9 and config.failure_rate == 0.2
    assert (config.callback_drop_rate, config.callback_duplicates) == (0.3, 2)
    assert (config.callback_delay, config.callback_reorder) == (4.0, True)
    assert (config.rate_limit_rate, config.retry_after) == (0.1, 7.0)
    assert (config.server_error_rate, config.slow_response) == (0.05, 1.5)
    assert config.fault_scope == ("apimart", "/files")
    assert config.api_key is None
    [banner] = result.output.strip().splitlines()
    assert "http://127.0.0.1:8123" in banner
    for name in ("APIMODELS", "APIMALL", "APIMART"):
        assert f"GENHOOK_{name}_BASE_URL=http://127.0.0.1:8123" in banner


def test_cli_refuses_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not start"))
    command = typer.Typer()
    command.command()(cli.simulate)
    result = CliRunner().invoke(command, ["--failure-rate", "2"])
    assert result.exit_code != 0


def test_banner_for_a_wildcard_bind() -> None:
    line = cli.banner("0.0.0.0", 9000, "k")
    assert "http://127.0.0.1:9000" in line and "'k'" in line
