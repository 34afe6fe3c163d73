"""The HTML view looks the same in a real notebook page: left-aligned, no boxes, the theme's text colour.

A small notebook that displays a session, a token summary and a run is executed with
nbclient (as ``test_notebooks.py`` does), converted with nbconvert's HTML exporter (the
``lab`` template in its light and dark themes, and the ``classic`` one), and rendered in
headless Chromium. A script at the end of the page writes the computed style of every
element of every view into the DOM, which ``--dump-dom`` prints. No network: the pages'
CDN scripts are removed and Chromium resolves no host name.

Skips, saying why, when nbconvert or Chromium is not installed (``make test`` installs
no browser; on Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from a2a_session_manager.display import ROOT_CLASS
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

KERNEL = "a2a-session-manager-view-test"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TRANSPARENT = "rgba(0, 0, 0, 0)"

CELLS = [
    """\
from a2a_session_manager import Session, SessionRun
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.models.token_usage import TokenUsage

session = Session(id="view-check", parent_id="root-0")
session.add_event(make_message_event("user", "What is the weather in Paris?"))
ask = make_message_event(
    "assistant", "",
    tool_calls=[{"id": "call-1", "name": "get_weather", "arguments": {"city": "Paris"}}],
    token_usage=TokenUsage(prompt_tokens=40, completion_tokens=12, model="gpt-4o-mini"),
)
session.add_event(ask)
session.add_event(
    make_tool_call_event("get_weather", {"city": "Paris"}, "call-1", result="18 C", parent_event_id=ask.id)
)
session.add_event(make_message_event(
    "assistant", "18 °C and clear.",
    token_usage=TokenUsage(prompt_tokens=70, completion_tokens=6, model="my-local-llama"),
))
session.add_event(make_message_event("user", "Thanks!"))
session""",
    "session.token_summary",
    """\
run = SessionRun()
run.mark_completed()
run""",
]

PROBE = """
<script>
(function () {
  var views = [];
  document.querySelectorAll(".ROOT_CLASS").forEach(function (root) {
    var rootBox = root.getBoundingClientRect();
    var elements = [root].concat(Array.prototype.slice.call(root.querySelectorAll("*")));
    views.push({
      hostColor: getComputedStyle(root.parentElement).color,
      elements: elements.map(function (el) {
        var cs = getComputedStyle(el);
        return {
          tag: el.tagName.toLowerCase(),
          cls: el.getAttribute("class") || "",
          textAlign: cs.textAlign,
          background: cs.backgroundColor,
          backgroundImage: cs.backgroundImage,
          color: cs.color,
          left: el.getBoundingClientRect().left - rootBox.left
        };
      })
    });
  });
  var out = document.createElement("pre");
  out.id = "a2a-probe";
  out.textContent = JSON.stringify(views);
  document.body.appendChild(out);
})();
</script>
""".replace("ROOT_CLASS", ROOT_CLASS)


def _chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The view notebook, executed in a fresh kernel on this interpreter."""
    pytest.importorskip("nbconvert", reason="nbconvert is not installed (pip install nbconvert)")
    if _chromium() is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium); make test installs no browser")
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / KERNEL
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "a2a-session-manager view test",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    work = tmp_path_factory.mktemp("view-notebook")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    env = dict(os.environ)
    env["TMPDIR"] = str(work)
    env.pop("PYTHONWARNINGS", None)
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=120, allow_errors=False, resources={"metadata": {"path": str(work)}})
    client.execute(env=env, cleanup_kc=True)
    return nb


def _render(html: str, tmp_path: Path) -> list[dict[str, Any]]:
    """Load the page in headless Chromium and return what the probe measured."""
    chromium = _chromium()
    assert chromium is not None
    # The templates load require.js and MathJax from a CDN; the views need neither.
    html = re.sub(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", "", html)
    assert "</body>" in html
    page = tmp_path / "page.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no host name resolves: nothing leaves the machine
        f"--user-data-dir={tmp_path / 'profile'}",
        "--run-all-compositor-stages-before-draw",
        "--window-size=1280,2000",
        "--dump-dom",
        page.as_uri(),
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=tmp_path
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the browser we started, with its helper processes
        proc.communicate()
        raise
    match = re.search(r'<pre id="a2a-probe">(.*?)</pre>', out, flags=re.S)
    assert match, f"Chromium printed no probe (exit {proc.returncode}); stderr:\n{err[-2000:]}"
    text = match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    views: list[dict[str, Any]] = json.loads(text)
    return views


@pytest.mark.parametrize(("template", "theme"), [("lab", "light"), ("lab", "dark"), ("classic", "light")])
def test_views_render_left_aligned_without_boxes_in_the_theme_text_colour(
    template: str, theme: str, executed_notebook: Any, tmp_path: Path
) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name=template)
    if template == "lab":
        exporter.theme = theme
    html, _ = exporter.from_notebook_node(executed_notebook)
    views = _render(html, tmp_path)
    assert len(views) == 3, "expected the session, token summary and run views"
    tags = {e["tag"] for view in views for e in view["elements"]}
    assert {"table", "td", "th", "pre", "details", "code"} <= tags
    problems: list[str] = []
    for view in views:
        root = view["elements"][0]
        # The root takes the notebook's text colour: readable on light and dark themes.
        if root["color"] != view["hostColor"]:
            problems.append(f"the view's text is {root['color']}, the notebook's {view['hostColor']}")
        for element in view["elements"]:
            where = f"<{element['tag']} class='{element['cls']}'>"
            # "start" is left in these left-to-right pages (the browser's default value).
            if element["textAlign"] not in ("left", "start"):
                problems.append(f"{where} is aligned {element['textAlign']}")
            if element["background"] != TRANSPARENT or element["backgroundImage"] != "none":
                problems.append(f"{where} has background {element['background']} {element['backgroundImage']}")
            if element["tag"] == "table" and abs(element["left"]) >= 1:
                problems.append(f"{where} starts {element['left']:.0f}px right of the view's left edge")
            plain_text = element["tag"] in ("pre", "th") or (element["tag"] == "td" and not element["cls"])
            if plain_text and element["color"] != root["color"]:
                problems.append(f"{where} is in {element['color']}, not the theme's {root['color']}")
    assert not problems, f"{template} template, {theme} theme:\n" + "\n".join(sorted(set(problems)))
