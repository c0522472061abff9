"""The chat page with a knowledge base: time from Send to the sources being visible, and to
the first token, in headless Chromium against a real gateway with the default models.

Indexes three of this repository's documents with `oss-sidecar index` into a temporary folder,
starts `oss-sidecar serve` on a free loopback port, opens the page (1440x900), picks the
knowledge base and asks RUNS different questions, each in a cleared conversation. Times are
measured inside the page (performance.now() from the Send click to the sources box shown, and
to the first answer text). Run by hand, not in CI:

    python bench/chat_page_sources.py [--runs 20] [--top-k 4]

Prints a Markdown table for docs/BENCHMARKS.md. Numbers on a shared machine are noisy; the
load average is printed beside them.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_gateway import ROOT, pct, start_gateway  # noqa: E402

DOCS = [ROOT / "docs" / "CHAT_PAGE.md", ROOT / "docs" / "SECURITY.md", ROOT / "docs" / "ARCHITECTURE.md"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
QUESTIONS = [
    "Which licence does DOMPurify have?", "How does the page stop an answer?", "What does Clear history do?",
    "Where are conversations kept?", "Which host names does the gateway accept?", "What is the page weight?",
    "How are API keys checked?", "What does the status bar show?", "How is the history window chosen?",
    "Which engines does the gateway have?", "What is a wire format here?", "How are model answers rendered?",
    "Does the page fetch anything from the internet?", "How is a cross-site POST refused?",
    "What does the knowledge base selector list?", "Which languages are highlighted?",
    "How do I refresh the screenshot?", "What runs the embedded model?", "How is admission limited?",
    "Where do the import rules live?", "What is the Content-Security-Policy?", "How are errors shown?",
]
# Sends the question and resolves with [ms to sources shown, ms to first answer text].
MEASURE = """(question) => new Promise((resolve) => {
  const input = document.getElementById("input");
  input.value = question;
  let sources = null;
  const obs = new MutationObserver(() => {
    const last = [...document.querySelectorAll("article.msg.assistant")].pop();
    if (!last) return;
    const box = last.querySelector(".sources");
    if (sources === null && box && !box.hidden) sources = performance.now() - t0;
    if (last.querySelector(".answer").textContent.trim()) {
      obs.disconnect();
      resolve([sources, performance.now() - t0]);
    }
  });
  obs.observe(document.getElementById("messages"), { subtree: true, childList: true, attributes: true, characterData: true });
  const t0 = performance.now();
  document.getElementById("send").click();
})"""


async def measure(url: str, runs: int, top_k: int) -> tuple[list[float], list[float]]:
    from playwright.async_api import async_playwright, expect

    sources, first = [], []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
        await page.goto(url + "/")
        await page.wait_for_function("window.__chatReady === true")
        await expect(page.locator("#knowledge")).to_have_attribute("data-count", "1", timeout=60_000)
        await page.locator("#knowledge").select_option("project-docs")
        await page.get_by_label("Max new tokens", exact=True).fill("4")
        await page.get_by_label("Sources per question", exact=True).fill(str(top_k))
        for i in range(runs + 1):  # the first is a warm-up, not counted
            question = QUESTIONS[i % len(QUESTIONS)]
            s, f = await page.evaluate(MEASURE, question)
            await expect(page.get_by_role("button", name="Send", exact=True)).to_be_enabled(timeout=120_000)
            await page.get_by_role("button", name="Clear history", exact=True).click()
            if i and s is not None:
                sources.append(s)
                first.append(f)
        await browser.close()
    return sources, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chat-page-bench-") as data_dir:
        env = {**os.environ, "OSS_SIDECAR_KNOWLEDGE__DATA_DIR": data_dir}
        subprocess.run([sys.executable, "-m", "gateway.cli", "index", *map(str, DOCS), "--collection", "project-docs"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        gateway, url = start_gateway(Path(data_dir) / "gateway.log", env)
        try:
            load_before = os.getloadavg()[0]
            sources, first = asyncio.run(measure(url, args.runs, args.top_k))
            load_after = os.getloadavg()[0]
        finally:
            gateway.terminate()
            gateway.wait(30)
    print(f"{len(sources)} runs, top_k {args.top_k}, load average (1 min) {load_before:.2f} before, "
          f"{load_after:.2f} after, {os.cpu_count()} CPUs")
    print()
    print("| from Send to | p50 ms | p90 ms | min ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, values in [("sources visible", sources), ("first answer text", first)]:
        print(f"| {name} | {statistics.median(values):,.0f} | {pct(values, 0.9):,.0f} | {min(values):,.0f} | "
              f"{max(values):,.0f} |")


if __name__ == "__main__":
    main()
