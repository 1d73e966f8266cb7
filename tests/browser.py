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


# Elements that stick out of their container or clip or scroll their content sideways, chart
# labels outside their chart or on top of each other, and blank bands in a row of charts taller
# than DEAD_SPACE px (less than one line of a caption)
_LAYOUT_PROBE = """
() => {
  const DEAD_SPACE = 12;
  const bad = [];
  const name = (el) => el.tagName.toLowerCase() + (typeof el.className === "string" && el.className
    ? "." + el.className.trim().split(/\\s+/).join(".") : "") + ": "
    + (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 60);
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) bad.push("page scrolls sideways");
  for (const el of document.querySelectorAll("main *")) {
    if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    if (style.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1) {
      bad.push("clips or scrolls: " + name(el));
    }
    if (style.overflowY !== "visible" && el.scrollHeight > el.clientHeight + 1) {
      bad.push("clips or scrolls vertically: " + name(el));
    }
    const parent = el.parentElement.getBoundingClientRect();
    if (box.right > parent.right + 1 || box.left < parent.left - 1) {
      bad.push("sticks out of its container: " + name(el));
    }
  }
  // a chart's labels: inside its box, and none on top of another
  for (const svg of document.querySelectorAll("main svg")) {
    const outer = svg.getBoundingClientRect();
    const labels = Array.from(svg.querySelectorAll("text"), (t) => [t, t.getBoundingClientRect()])
      .filter(([, r]) => r.width > 0 && r.height > 0);
    labels.forEach(([t, r], i) => {
      if (r.left < outer.left - 1 || r.right > outer.right + 1 || r.top < outer.top - 1
          || r.bottom > outer.bottom + 1) bad.push("label outside its chart: " + name(t));
      for (const [u, q] of labels.slice(i + 1)) {
        const w = Math.min(r.right, q.right) - Math.max(r.left, q.left);
        const h = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
        if (w > 1 && h > 1 && w * h > 0.2 * Math.min(r.width * r.height, q.width * q.height)) {
          bad.push("labels overlap: " + name(t) + " / " + name(u));
        }
      }
    });
  }
  // a chart row: nothing in it ends well above what sits beside it (a blank band under a
  // shorter chart or caption)
  for (const row of document.querySelectorAll("main .chart-row")) {
    const items = Array.from(row.children, (el) => [el, el.getBoundingClientRect()])
      .filter(([, r]) => r.width > 0 && r.height > 0);
    for (const [el, r] of items) {
      const beside = items.filter(([, q]) => q.top < r.bottom && q.bottom > r.top);
      const blank = Math.max(...beside.map(([, q]) => q.bottom)) - r.bottom;
      if (blank > DEAD_SPACE) bad.push(`blank ${Math.round(blank)} px under: ${name(el)}`);
    }
  }
  return bad;
}
"""
_DOMAINS = """
() => Array.from(document.querySelectorAll("svg[data-domain]"),
                 (svg) => [svg.dataset.domain, svg.dataset.bounds])
"""
# A4 landscape and portrait less the report's 12 mm print margins, in CSS pixels
A4_WIDTH = round((297 - 24) / 25.4 * 96)
A4_PORTRAIT_WIDTH = round((210 - 24) / 25.4 * 96)


def _floats(text: str) -> tuple[float, float]:
    lo, hi = text.split()
    return float(lo), float(hi)


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
    # layout problems at 1280 px on screen and at A4 print widths: "screen" / "print" (landscape) /
    # "portrait" → problems
    layout: dict[str, list[str]] = field(default_factory=dict)
    # each chart's value axis and its metric's range, (lo, hi) each
    domains: list[tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=list)

    def axes_outside_bounds(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        return [(d, b) for d, b in self.domains if d[0] < b[0] or d[1] > b[1]]

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
            # every collapsed detail opened, so that the text and the layout checks see it
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            report.text = page.inner_text("body")
            report.script_count = page.evaluate("document.scripts.length")
            report.domains = [(_floats(d), _floats(b)) for d, b in page.evaluate(_DOMAINS)]
            report.layout["screen"] = page.evaluate(_LAYOUT_PROBE)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            page.set_viewport_size({"width": A4_WIDTH, "height": 900})
            page.emulate_media(media="print")
            report.layout["print"] = page.evaluate(_LAYOUT_PROBE)
            if screenshot is not None:
                page.screenshot(path=str(screenshot.with_name(f"{screenshot.stem}_print.png")),
                                full_page=True)
            page.set_viewport_size({"width": A4_PORTRAIT_WIDTH, "height": 900})
            report.layout["portrait"] = page.evaluate(_LAYOUT_PROBE)
        finally:
            browser.close()
    return report
