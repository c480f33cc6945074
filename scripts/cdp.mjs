// cdp.mjs — a page in headless Chromium through the DevTools protocol over --remote-debugging-pipe (no npm
// packages, no network port), shared by report-check.mjs (a run's index.html) and compare-check.mjs (the
// `kprod compare --html` page).
//
//   const page = await openPage(chromium, url);   // collects uncaught exceptions, console and browser errors
//   const value = await page.evaluate("document.title");
//   await page.screenshot("shot.png");             // full page, 1400 px wide
//   page.failures                                  // strings, one per error seen
//   await page.close();
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TIMEOUT_MS = 60_000;

export async function openPage(chromium, url) {
  const profile = mkdtempSync(join(tmpdir(), "kprod-chromium-"));
  const browser = spawn(
    chromium,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
      "--remote-debugging-pipe",
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
  );
  let browserLog = "";
  browser.stderr.on("data", (d) => (browserLog += d));

  // The protocol over the pipe: JSON messages separated by NUL bytes; we write to fd 3, Chromium to fd 4.
  let nextId = 1;
  const pending = new Map();
  const listeners = [];
  let buffered = Buffer.alloc(0);
  browser.stdio[4].on("data", (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    let end;
    while ((end = buffered.indexOf(0)) >= 0) {
      const msg = JSON.parse(buffered.subarray(0, end).toString("utf8"));
      buffered = buffered.subarray(end + 1);
      if (msg.id && pending.has(msg.id)) {
        const { ok, fail, method } = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) fail(new Error(`${method}: ${msg.error.message}`));
        else ok(msg.result);
      } else if (msg.method) {
        for (const l of listeners) l(msg);
      }
    }
  });
  function send(method, params = {}, sessionId) {
    const id = nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    browser.stdio[3].write(JSON.stringify(msg) + "\0");
    return new Promise((ok, fail) => pending.set(id, { ok, fail, method }));
  }
  function waitFor(method, sessionId) {
    return new Promise((ok) => {
      const l = (msg) => {
        if (msg.method === method && msg.sessionId === sessionId) {
          listeners.splice(listeners.indexOf(l), 1);
          ok(msg.params);
        }
      };
      listeners.push(l);
    });
  }

  const failures = [];
  const timer = setTimeout(() => {
    console.error(`FAILED: no answer from ${chromium} within ${TIMEOUT_MS / 1000} s`);
    console.error(browserLog.split("\n").slice(-20).join("\n"));
    browser.kill("SIGKILL");
    process.exit(1);
  }, TIMEOUT_MS);
  browser.on("error", (e) => {
    console.error(`FAILED: cannot start ${chromium}: ${e.message}`);
    process.exit(1);
  });
  const cleanup = () => {
    clearTimeout(timer);
    rmSync(profile, { recursive: true, force: true });
  };

  try {
    const { targetId } = await send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
    listeners.push((msg) => {
      if (msg.sessionId !== sessionId) return;
      const p = msg.params;
      if (msg.method === "Runtime.exceptionThrown") {
        failures.push(`uncaught exception: ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`);
      } else if (msg.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")) {
        failures.push(`console.${p.type}: ${p.args.map((a) => a.value ?? a.description).join(" ")}`);
      } else if (msg.method === "Log.entryAdded" && p.entry.level === "error") {
        failures.push(`browser error (${p.entry.source}): ${p.entry.text} ${p.entry.url ?? ""}`.trim());
      }
    });
    await send("Runtime.enable", {}, sessionId);
    await send("Log.enable", {}, sessionId);
    await send("Page.enable", {}, sessionId);
    await send("Emulation.setDeviceMetricsOverride", { width: 1400, height: 900, deviceScaleFactor: 1, mobile: false }, sessionId);
    const loaded = waitFor("Page.loadEventFired", sessionId);
    const nav = await send("Page.navigate", { url }, sessionId);
    if (nav.errorText) failures.push(`cannot open ${url}: ${nav.errorText}`);
    await loaded;
    return {
      failures,
      async evaluate(expression) {
        const { result } = await send("Runtime.evaluate", { expression, returnByValue: true }, sessionId);
        return result.value;
      },
      // A real mouse event at viewport coordinates (x, y): "mouseMoved", "mousePressed" or "mouseReleased".
      async mouse(type, x, y) {
        const click = type === "mouseMoved" ? {} : { button: "left", buttons: type === "mousePressed" ? 1 : 0, clickCount: 1 };
        await send("Input.dispatchMouseEvent", { type, x, y, ...click }, sessionId);
      },
      async click(x, y) {
        await this.mouse("mouseMoved", x, y);
        await this.mouse("mousePressed", x, y);
        await this.mouse("mouseReleased", x, y);
      },
      async screenshot(path) {
        const { cssContentSize } = await send("Page.getLayoutMetrics", {}, sessionId);
        const height = Math.min(Math.ceil(cssContentSize.height), 16000);
        const shot = await send(
          "Page.captureScreenshot",
          { format: "png", captureBeyondViewport: true, clip: { x: 0, y: 0, width: 1400, height, scale: 1 } },
          sessionId,
        );
        writeFileSync(path, Buffer.from(shot.data, "base64"));
        return height;
      },
      async close() {
        await send("Browser.close").catch(() => {});
        await new Promise((ok) => {
          if (browser.exitCode !== null) return ok();
          browser.once("exit", ok);
          setTimeout(ok, 5000);
        });
        cleanup();
      },
    };
  } catch (e) {
    browser.kill("SIGKILL");
    cleanup();
    throw e;
  }
}
