// Plays a recording URL in headless Chromium (Debian's /usr/bin/chromium), seeks to the
// middle and keeps playing. Prints one JSON line: what the media element did and every
// request/response the browser made for the URL.
//   node play.mjs <page-url-on-the-same-origin> <recording-url> [timeout-ms]
import { chromium } from "playwright-core";

const [pageUrl, mediaUrl, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 30000);
const result = { requests: [], error: null, duration: null, seekedTo: null, playedPastSeek: false, currentTime: null };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
         "--mute-audio"],
});
try {
  const page = await browser.newPage();
  page.on("response", async (response) => {
    if (!response.url().startsWith(mediaUrl)) return;
    const headers = await response.allHeaders();
    const request = response.request();
    const requestHeaders = await request.allHeaders();
    result.requests.push({
      method: request.method(),
      range: requestHeaders["range"] || null,
      status: response.status(),
      contentRange: headers["content-range"] || null,
      contentType: headers["content-type"] || null,
    });
  });
  await page.goto(pageUrl);
  const played = await page.evaluate(async ({ src, timeoutMs }) => {
    const out = { error: null, duration: null, seekedTo: null, playedPastSeek: false, currentTime: null };
    const audio = document.createElement("audio");
    audio.preload = "auto";
    document.body.appendChild(audio);
    const waitFor = (predicate, what) => new Promise((resolve, reject) => {
      const started = Date.now();
      const tick = () => {
        if (audio.error) return reject(new Error(`media error ${audio.error.code}: ${audio.error.message}`));
        if (predicate()) return resolve();
        if (Date.now() - started > timeoutMs) return reject(new Error(`timeout waiting for ${what}`));
        setTimeout(tick, 50);
      };
      tick();
    });
    try {
      audio.src = src;
      await audio.play();
      await waitFor(() => audio.currentTime > 0.5 && isFinite(audio.duration), "playback to start");
      out.duration = audio.duration;
      out.seekedTo = audio.duration / 2;
      audio.currentTime = out.seekedTo;
      await waitFor(() => !audio.seeking && audio.currentTime > out.seekedTo + 0.5, "playback after the seek");
      out.playedPastSeek = true;
      out.currentTime = audio.currentTime;
    } catch (e) {
      out.error = String(e && e.message ? e.message : e);
    }
    return out;
  }, { src: mediaUrl, timeoutMs });
  Object.assign(result, played);
} catch (e) {
  result.error = String(e && e.message ? e.message : e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
