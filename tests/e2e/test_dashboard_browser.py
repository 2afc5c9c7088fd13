"""The dashboard in a real browser: a task submitted elsewhere appears, completes and
shows its mirrored image, live, without a reload; the detail view shows it full size.

Headless Chromium from Debian's ``chromium`` package, driven by Playwright
(Playwright's own browser download does not work here; ``.ci/run`` installs the
package). genhook runs with its background jobs on (poller, mirror, dispatcher), next
to the provider simulator, exactly as ``scripts/run`` does. Screenshots of both pages
are saved under ``artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from receiver.simulator.config import SimulatorConfig
from tests.conftest import make_settings
from tests.support.simulated import MODELS as GATEWAY_MODELS
from tests.support.simulated import SIM_KEY, Simulated, simulated_genhook

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WAIT_MS = 20_000

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing; .ci/run installs the chromium package")
    pytest.skip(
        f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Simulated]:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
        run_background=True,  # the real worker jobs, on their scheduler
        assets_allow_private=True,  # the simulator is on loopback
        assets_tick_seconds=0.2,
        poll_tick_seconds=0.5,
        events_poll_seconds=0.1,
        apimall_poll_first=(0.5, 0.5),  # API Mall is polled: quickly, for the test
        apimall_poll_interval=(0.5, 0.5),
    )
    # Generation takes ~1.5 s, so the page shows the task before it completes.
    config = SimulatorConfig(api_key=SIM_KEY, time_factor=0.15, seed=5, image_size=384)
    async with simulated_genhook(settings, config) as simulated:
        yield simulated


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


MODELS = {p: GATEWAY_MODELS[p] for p in ("apimodels", "apimall")}


async def submit(
    world: Simulated, prompt: str, provider: str = "apimodels", **params: object
) -> str:
    response = await world.genhook.client.post(
        "/api/tasks",
        json={"provider": provider, "model": MODELS[provider], "prompt": prompt, "params": params},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def loaded_images(page: Page, selector: str) -> list[int]:
    """naturalWidth of every image matching ``selector`` (0 = broken or not loaded)."""
    widths: list[int] = await page.eval_on_selector_all(
        selector, "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
    )
    return widths


async def test_a_task_appears_completes_and_opens_in_detail_live(
    world: Simulated, browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = await browser.new_page(viewport={"width": 1280, "height": 820})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    # signed in the way a person is: the login link `genhook serve` prints
    await page.goto(f"{world.genhook.base_url}/login?token={world.genhook.token}")
    await expect(page.locator("[data-live-indicator]")).to_have_attribute("data-state", "open")
    await expect(page.locator("[data-empty]")).to_be_visible()
    await page.evaluate("window.__notReloaded = true")

    # submitted elsewhere: through the API, not through this page
    failing = await submit(world, "[sim:fail] A portrait that will not render")
    polled = await submit(
        world, "Two cinematic foxes in neon rain", provider="apimall", num_images=2
    )
    task_id = await submit(
        world, "A watercolor lighthouse on a cliff at dawn, soft morning light", aspect_ratio="1:1"
    )
    row = page.locator(f'tr[data-task-id="{task_id}"]')
    await expect(row).to_be_visible(timeout=WAIT_MS)  # appears without a reload
    pill = row.locator("[data-status-pill]")
    await expect(pill).to_have_text("completed", timeout=WAIT_MS)
    thumbnail = row.locator('img[data-local="true"]')  # our mirrored copy, not the CDN's
    await expect(thumbnail).to_have_attribute("src", f"/assets/{task_id}/1.png", timeout=WAIT_MS)
    await expect(row).to_contain_text("callback")
    await expect(page.locator(f'tr[data-task-id="{failing}"] [data-status-pill]')).to_have_text(
        "failed", timeout=WAIT_MS
    )
    polled_row = page.locator(f'tr[data-task-id="{polled}"]')
    await expect(polled_row.locator('img[data-local="true"]')).to_be_visible(timeout=WAIT_MS)
    await expect(polled_row).to_contain_text("poll")  # API Mall has no callbacks
    await expect(polled_row.locator(".count")).to_have_text("2")
    await page.wait_for_function(
        "[...document.querySelectorAll('tr[data-task-id] img')].every(i => i.naturalWidth > 0)"
    )
    assert await page.evaluate("window.__notReloaded") is True
    # newest first, whatever order the three tasks' events arrived in
    shown = await page.eval_on_selector_all(
        "tr[data-task-id]", "rs => rs.map(r => r.dataset.taskId)"
    )
    assert shown == sorted([failing, polled, task_id], reverse=True)
    await expect(page.locator("[data-empty]")).to_be_hidden()
    await page.screenshot(path=str(ARTIFACTS / "dashboard-list.png"))

    await row.locator(".prompt a").click()
    await expect(page).to_have_url(f"{world.genhook.base_url}/tasks/{task_id}")
    await expect(page.locator("h1")).to_contain_text("watercolor lighthouse")
    image = page.locator(".images img").first
    await expect(image).to_have_attribute("src", f"/assets/{task_id}/1.png")
    await page.wait_for_function("document.querySelector('.images img').naturalWidth === 384")
    await expect(page.locator(".timeline")).to_contain_text("task.assets_ready")
    await expect(page.locator(".timeline")).to_contain_text("callback applied")
    await expect(page.locator(".facts")).to_contain_text("callback")
    assert await loaded_images(page, ".images img") == [384]
    await page.screenshot(path=str(ARTIFACTS / "dashboard-task.png"), full_page=True)

    await page.goto(f"{world.genhook.base_url}/tasks/{failing}")
    await expect(page.locator(".problems")).to_contain_text("Simulated generation failure")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-failed-task.png"), full_page=True)
    assert problems == []


async def test_the_stats_page_charts_what_happened(world: Simulated, browser: Browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    ids = [
        await submit(world, "A red kite over the hills"),
        await submit(world, "[sim:fail] A portrait that will not render"),
        await submit(world, "Foxes in the snow", provider="apimall", num_images=2),
        await submit(world, "A lighthouse", provider="apimall"),
    ]
    for task_id in ids:
        await world.wait_terminal(task_id, within=20)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    # signed in with the login link, which then opens the stats page
    await page.goto(f"{world.genhook.base_url}/login?token={world.genhook.token}&next=/stats")
    await expect(page.locator("h1")).to_have_text("Stats")
    await expect(page.locator('[data-window-link="day"]')).to_have_attribute("aria-current", "page")
    await expect(page.locator('[data-tile="tasks"]')).to_have_text("4")
    await expect(page.locator('[data-tile="completed"]')).to_have_text("75%")

    outcomes = page.locator('[data-section="outcomes"]')
    model = MODELS["apimodels"]
    row = outcomes.locator(f'tr[data-provider="apimodels"][data-model="{model}"]')
    await expect(row.locator('[data-count="completed"]')).to_have_text("1")
    await expect(row.locator('[data-count="failed"]')).to_have_text("1")
    bars = outcomes.locator("svg.chart g.bar")
    await expect(bars).to_have_count(2)  # one bar per provider and model
    apimall_bar = outcomes.locator('svg.chart g.bar[data-label="apimall · nano-banana"] rect')
    await expect(apimall_bar).to_have_count(1)  # all completed: one segment
    await expect(apimall_bar.locator("title")).to_have_text("apimall · nano-banana: 2 completed")

    shares = page.locator('[data-section="shares"]')
    await expect(shares.locator('tr[data-provider="apimall"] [data-count="poll"]')).to_contain_text(
        "2 (100%)"
    )
    await expect(
        shares.locator('tr[data-provider="apimodels"] [data-count="callback"]')
    ).to_contain_text("2 (100%)")
    timings = page.locator('[data-section="timings"]')
    await expect(timings.locator("tbody tr")).to_have_count(2)
    await expect(page.locator('[data-section="failures"] tbody tr')).to_have_count(1)
    await expect(page.locator('[data-section="workers"] tr[data-worker]')).to_have_count(1)

    # every chart is drawn with a size, and its numbers are in a table beside it
    sizes = await page.eval_on_selector_all(
        "svg.chart", "svgs => svgs.map(s => s.getBoundingClientRect().width)"
    )
    assert len(sizes) >= 4 and all(width > 200 for width in sizes)
    assert await page.locator("table.numbers").count() >= 5
    await page.screenshot(path=str(ARTIFACTS / "dashboard-stats.png"), full_page=True)

    await page.locator('[data-window-link="hour"]').click()
    await expect(page).to_have_url(f"{world.genhook.base_url}/stats?window=hour")
    await expect(page.locator('[data-window-link="hour"]')).to_have_attribute(
        "aria-current", "page"
    )
    await expect(page.locator('[data-tile="tasks"]')).to_have_text("4")
    assert problems == []  # no script errors, no CSP violation
