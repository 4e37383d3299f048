// Opens a recording URL directly (as a person clicking a link does) in headless Chromium and
// reports whether the browser's own media document loaded it. Prints one JSON line.
//   node navigate.mjs <recording-url> [timeout-ms]
import { chromium } from "playwright-core";

const [mediaUrl, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 20000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
});
const result = { status: null, element: null, readyState: null, duration: null, error: null };
try {
  const page = await browser.newPage();
  const response = await page.goto(mediaUrl, { timeout: timeoutMs });
  result.status = response ? response.status() : null;
  // The page may forbid scripts (CSP sandbox): ask through DevTools, which the page's
  // policy does not govern.
  const cdp = await page.context().newCDPSession(page);
  const probe = `(() => { const m = document.querySelector("video, audio");
    if (!m) return null;
    return { element: m.tagName, readyState: m.readyState, duration: m.duration,
             error: m.error ? (m.error.message || String(m.error.code)) : null }; })()`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { result: value } = await cdp.send("Runtime.evaluate", { expression: probe, returnByValue: true });
    const state = value.value;
    if (state && (state.error || state.readyState >= 1)) { Object.assign(result, state); break; }
    if (Date.now() > deadline) { result.error = "timeout: " + JSON.stringify(state); break; }
    await new Promise((r) => setTimeout(r, 200));
  }
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
