"""Open a local HTML file in Debian's headless Chromium and record what the page did."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_SHAPES = "circle, ellipse, line, path, polygon, polyline, rect"
_SVG_PROBE = f"""
() => Array.from(document.querySelectorAll("svg"), (svg) => {{
  const box = svg.getBoundingClientRect();
  return {{shapes: svg.querySelectorAll("{_SHAPES}").length, width: box.width,
           height: box.height}};
}})
"""


@dataclass(frozen=True)
class SvgInfo:
    has_shapes: bool
    width: float
    height: float

    @property
    def has_box(self) -> bool:
        return self.width > 0 and self.height > 0


@dataclass
class PageReport:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    svgs: list[SvgInfo] = field(default_factory=list)
    text: str = ""
    alert_fired: bool = False
    script_count: int = 0

    @property
    def svg_count(self) -> int:
        return len(self.svgs)


def chromium_available() -> bool:
    """True when Debian's Chromium and the playwright package are both installed."""
    return os.access(CHROMIUM, os.X_OK) and importlib.util.find_spec("playwright") is not None


def open_page(path: Path, screenshot: Path | None = None) -> PageReport:
    """Load `path` over file://, with every non-file request aborted, and inspect the page."""
    from playwright.sync_api import Dialog, Route, sync_playwright

    report = PageReport()

    def on_dialog(dialog: Dialog) -> None:
        report.alert_fired = report.alert_fired or dialog.type == "alert"
        dialog.dismiss()

    def on_route(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console",
                lambda m: report.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: report.page_errors.append(str(e)))
            page.on(
                "requestfailed",
                lambda r: report.failed_requests.append(f"{r.url}: {r.failure}"),
            )
            page.on("dialog", on_dialog)
            page.route("**/*", on_route)
            page.goto(path.resolve().as_uri(), wait_until="load")
            report.svgs = [
                SvgInfo(s["shapes"] > 0, s["width"], s["height"])
                for s in page.evaluate(_SVG_PROBE)
            ]
            report.text = page.inner_text("body")
            report.script_count = page.evaluate("document.scripts.length")
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return report
