// Opens the admin server's live page in Debian's headless chromium (playwright-core) and
// prints what it saw as one JSON line, for tests/e2e_live_page.rs to assert on.
//
// Usage: playwright-node tests/ui/live_page.mjs URL SCREENSHOT EXPECT_JSON
//   EXPECT_JSON: {"panels": [ids that must show data], "trace": trace id to open or null}
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE_DIR || "playwright-core");

const [url, screenshot, expectJson] = process.argv.slice(2);
const expect = JSON.parse(expectJson);
const seen = { errors: [], requests_failed: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("console", (m) => { if (m.type() === "error") seen.errors.push(m.text()); });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("requestfailed", (r) => seen.requests_failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  const started = Date.now();
  await page.goto(url);
  try {
    await page.waitForFunction(
      (ids) => ids.every((id) => document.getElementById(id)?.dataset.state === "data"),
      expect.panels, { timeout: 5000, polling: 100 });
    seen.all_drawn_ms = Date.now() - started;
  } catch {
    seen.all_drawn_ms = null;
  }
  seen.panels = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll(".panel")].map((p) => [p.id, {
    state: p.dataset.state,
    why: p.querySelector(".why")?.textContent || "",
    charts: p.querySelectorAll(".chart canvas").length,
    rows: Math.max(0, p.querySelectorAll(".current tr").length - 1),
    text: p.innerText.slice(0, 2000),
  }])));
  seen.gpu_events = await page.$$eval("#genai .gpu-events li", (lis) => lis.map((li) => ({
    text: li.innerText.replace(/\s+/g, " "), traces: [...li.querySelectorAll("a[data-trace]")].map((a) => a.dataset.trace),
  })));
  seen.graph = await page.$$eval("#pipeline .graph .row", (rows) => rows.map((r) => r.innerText.replace(/\s+/g, " ")));
  seen.traces = await page.$$eval("#traces .list li", (lis) => lis.map((li) => ({ id: li.dataset.trace, status: li.className })));
  if (expect.trace) {
    await page.click(`#traces .list li[data-trace="${expect.trace}"]`);
    await page.waitForSelector("#traces .tree .span", { timeout: 5000 });
    seen.spans = await page.$$eval("#traces .tree .span", (spans) => spans.map((s) => ({
      id: s.dataset.span, status: s.className.replace("span", "").replace("selected", "").trim(),
      text: s.innerText.replace(/\s+/g, " "), indent: parseInt(s.firstChild.style.paddingLeft, 10) || 0,
    })));
    const last = seen.spans[seen.spans.length - 1];
    await page.click(`#traces .tree .span[data-span="${last.id}"]`);
    seen.attributes = await page.$$eval("#traces .attributes tr", (rows) => rows.slice(1).map((r) => [...r.cells].map((c) => c.innerText)));
  }
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
