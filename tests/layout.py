"""A rendered page's width as a 1280 px browser lays it out (headless Chromium): what sticks out of the text
column or makes the page scroll sideways."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

# Run where it stands, at the end of the body: Chromium's --dump-dom prints the page as soon as it has loaded.
CHECK = """<script>
(() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const right = article.getBoundingClientRect().right + 1;
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    out.push(`page ${document.documentElement.scrollWidth}px wide in a ${window.innerWidth}px window`);
  article.querySelectorAll("table, img, pre, figure, details").forEach((el) => {
    const box = el.getBoundingClientRect();
    if (box.right > right || el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.tagName.toLowerCase()} ${Math.round(box.width)}px (scroll ${el.scrollWidth}px) past ${Math.round(right)}px: ${(el.textContent || el.src || "").slice(0, 40)}`);
  });
  const pre = document.createElement("pre");
  pre.id = "layout-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium() -> str | None:
    """The headless browser, if one is installed (``apt-get install chromium``)."""
    return next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )


def overflow(page: Path, width: int = 1280) -> list[str] | None:
    """What overflows ``page`` at ``width`` px (empty when nothing does); None without a browser."""
    browser = chromium()
    if browser is None:
        return None
    page = Path(page)
    probe = page.with_name(f".layout-{page.name}")  # beside the page, so its styles and images load
    probe.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    try:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},2400"]
            + ["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    found = re.search(r'<pre id="layout-result"[^>]*>(.*?)</pre>', done.stdout, flags=re.S)
    if found is None:
        raise RuntimeError(f"chromium did not lay out {page}: {done.stderr[-500:]}")
    return json.loads(html.unescape(found.group(1)))
