"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser),
one fresh profile per person, screenshots kept under test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items):  # type: ignore[no-untyped-def]
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="no browser: /usr/bin/chromium is absent "
                            "(apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


class Browsers:
    """Opens one browser profile per person: separate cookies, like separate devices."""

    def __init__(self, playwright, base: Path):  # type: ignore[no-untyped-def]
        self.pw, self.base, self.contexts = playwright, base, []  # type: ignore[var-annotated]
        self.dialogs: list[str] = []  # alert/confirm/prompt messages: a script ran

    def open(self, who: str, phone: bool = False):  # type: ignore[no-untyped-def]
        ctx = self.pw.chromium.launch_persistent_context(
            str(self.base / f"profile-{who}"), executable_path=str(CHROMIUM), headless=True,
            args=ARGS, viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone,
            device_scale_factor=2 if phone else 1, locale="id-ID",
        )
        self.contexts.append(ctx)
        ctx.set_default_timeout(15_000)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        return page

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Browsers]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = Browsers(pw, tmp_path)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shots(request):  # type: ignore[no-untyped-def]
    """shots(page, "name"): a full-page PNG under test-artifacts/<test name>/."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    count = iter(range(1, 100))

    def take(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = folder / f"{next(count):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
