// report-check.mjs — opens a kprod run's index.html in headless Chromium through the DevTools protocol (over
// --remote-debugging-pipe: no npm packages, no network port) and checks it:
//   * no uncaught exception, no console error, no browser log error (failed loads, blocked requests);
//   * every chart the run's result.json calls for is an <svg class="chart"> with its id, drawn at a non-zero size
//     and holding marks (points, lines or cells);
//   * one <tr class="point"> per point name and peer, in the table;
//   * the header names the producer settings (every property the workload set, plus acks, batch.size, linger.ms,
//     compression.type), the record size, target, date, duration and warm-up;
//   * links to the run's files that exist (result.json, results.csv, summary.md, workload.yaml, intervals/…) are
//     relative and each opens a file in the run folder;
//   * the warm-up, when the points had one, shaded on the over-time charts (rect.band);
//   * nothing wider than the viewport's page (no horizontal overflow of the body);
//   * the point labels of every chart do not overlap (their bounding boxes, as drawn, are disjoint), and a sweep's
//     throughput-vs-latency charts label their points;
//   * the charts are interactive, with real mouse events: moving onto a marker shows its series and values in the
//     tooltip (#chart-tip), clicking a legend entry hides its series (markers no longer drawn) and clicking again
//     shows it.
// Saves a full-page screenshot. Usage: node report-check.mjs RUN_DIR SCREENSHOT.png [CHROMIUM]
// Exits 1 with one line per failure.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { openPage } from "./cdp.mjs";

const [runDir, shotPath, chromium = "chromium"] = process.argv.slice(2);
if (!runDir || !shotPath) {
  console.error("usage: node report-check.mjs RUN_DIR SCREENSHOT.png [CHROMIUM]");
  process.exit(2);
}

// What the page must hold, from result.json (the same rules as src/workbench/report/html.rs).
const run = JSON.parse(readFileSync(join(runDir, "result.json"), "utf8"));
const slug = (s) => s.replace(/[^A-Za-z0-9._-]/g, "_");
const names = [...new Set(run.points.map((p) => p.name))];
const dims = [];
for (const p of run.points) for (const [k] of p.dims) if (!dims.includes(k)) dims.push(k);
// A run of one point (one name, one peer) shows its figures (#single-point) instead of throughput-vs-latency dots.
const single = new Set(run.points.map((p) => `${p.name}\u0000${p.peer ?? "kprod"}`)).size === 1;
const charts = single ? [] : dims.length === 0 ? ["tput-vs-latency"] : dims.map((d) => `tput-vs-latency-${slug(d)}`);
charts.push("spectrum", "rate-over-time", "p99-over-time");
if (dims.length >= 2) {
  charts.push(`heatmap-throughput-${slug(dims[0])}-${slug(dims[1])}`, `heatmap-p99-${slug(dims[0])}-${slug(dims[1])}`);
}

// The header's settings (tr.setting[data-key]) and file links (a.file) the page must hold.
const settings = ["date", "target", "record_size", "duration", "warmup", "acks", "batch.size", "linger.ms", "compression.type"];
for (const p of run.points) for (const k of Object.keys(p.config?.producer_props ?? {})) if (!settings.includes(k)) settings.push(k);
const files = ["result.json", "results.csv", "summary.md"];
if (existsSync(join(runDir, "workload.yaml"))) files.push("workload.yaml");
if (existsSync(join(runDir, "intervals"))) {
  for (const d of readdirSync(join(runDir, "intervals")).sort()) {
    for (const f of readdirSync(join(runDir, "intervals", d)).sort()) if (f.endsWith(".hlog")) files.push(`intervals/${d}/${f}`);
  }
}

const failures = [];
let page;
try {
  page = await openPage(chromium, pathToFileURL(resolve(runDir, "index.html")).href);
  const probe = `(() => {
    const charts = ${JSON.stringify(charts)}.map((id) => {
      const el = document.getElementById(id);
      if (!el) return { id, found: false };
      const r = el.getBoundingClientRect();
      return { id, found: true, bands: [...el.querySelectorAll("rect.band")].map((b) => b.getBoundingClientRect().width), tag: el.tagName.toLowerCase(), cls: el.getAttribute("class") || "",
               width: r.width, height: r.height, marks: el.querySelectorAll("circle,path,polyline,rect,line").length };
    });
    const figures = document.querySelectorAll("#single-point .figure").length;
    const tput = document.querySelectorAll("svg[id^=tput-vs-latency]").length;
    const rows = [...document.querySelectorAll("tr.point")].map((tr) => tr.dataset.name);
    const settings = Object.fromEntries([...document.querySelectorAll("tr.setting")].map((tr) => [tr.dataset.key, tr.querySelector("td").textContent]));
    const links = [...document.querySelectorAll("a.file")].map((a) => ({ raw: a.getAttribute("href"), href: a.href }));
    return { charts, rows, figures, tput, settings, links, title: document.title, scrollWidth: document.documentElement.scrollWidth,
             clientWidth: document.documentElement.clientWidth, svgs: document.querySelectorAll("svg").length };
  })()`;
  const dom = await page.evaluate(probe);
  for (const c of dom.charts) {
    if (!c.found) failures.push(`chart #${c.id} is missing`);
    else if (c.tag !== "svg" || !c.cls.split(/\s+/).includes("chart")) failures.push(`#${c.id} is a <${c.tag} class="${c.cls}">, not <svg class="chart">`);
    else if (!(c.width > 50 && c.height > 50)) failures.push(`chart #${c.id} is drawn at ${c.width}×${c.height} px`);
    else if (c.marks < 3) failures.push(`chart #${c.id} holds only ${c.marks} marks`);
  }
  if (single && (dom.figures < 4 || dom.tput > 0)) failures.push(`a one-point run shows ${dom.figures} figures and ${dom.tput} throughput-vs-latency charts`);
  if (!single && dom.figures > 0) failures.push("a run of several points shows the one-point figures");
  // Warm-up shaded on the over-time charts (and only there) when the points had one.
  const warm = run.points.some((p) => (p.config?.warmup?.secs ?? 0) + (p.config?.warmup?.nanos ?? 0) > 0);
  for (const c of dom.charts.filter((c) => c.found)) {
    const overTime = c.id.endsWith("-over-time");
    if (warm && overTime && !(c.bands.length === 1 && c.bands[0] > 5)) failures.push(`chart #${c.id} does not shade the warm-up (bands: ${JSON.stringify(c.bands)})`);
    if ((!warm || !overTime) && c.bands.length) failures.push(`chart #${c.id} shades ${c.bands.length} band(s) with no warm-up to show`);
  }
  const missing = names.filter((n) => !dom.rows.includes(n));
  const rowCount = new Set(run.points.map((p) => `${p.name}\u0000${p.peer ?? "kprod"}`)).size; // one per point and peer
  if (dom.rows.length !== rowCount || missing.length) {
    failures.push(`table has ${dom.rows.length} tr.point rows, expected ${rowCount}${missing.length ? `; missing: ${missing.join(", ")}` : ""}`);
  }
  for (const k of settings) {
    if (!(k in dom.settings)) failures.push(`the header has no setting ${k}`);
    else if (!dom.settings[k].trim() || dom.settings[k].trim() === "–") failures.push(`the header's setting ${k} is empty`);
  }
  for (const p of run.points) {
    for (const [k, v] of Object.entries(p.config?.producer_props ?? {})) {
      if (k in dom.settings && !dom.settings[k].split(/,\s*|\s+/).includes(v) && v !== "[hidden]") failures.push(`the header shows ${k} = "${dom.settings[k]}", not ${v} of point ${p.name}`);
    }
  }
  const base = pathToFileURL(resolve(runDir) + "/").href;
  for (const f of files) {
    const l = dom.links.find((l) => decodeURIComponent(l.raw) === f);
    if (!l) failures.push(`no link to ${f}`);
    else if (l.href !== new URL(l.raw, base).href || !existsSync(join(runDir, decodeURIComponent(l.raw)))) failures.push(`the link to ${f} (${l.raw}) does not open a file of the run folder`);
  }
  for (const l of dom.links) {
    if (/^[a-z]+:|^\//i.test(l.raw)) failures.push(`link ${l.raw} is not relative to the run folder`);
  }
  if (dom.scrollWidth > dom.clientWidth + 1) failures.push(`the page overflows horizontally: ${dom.scrollWidth} px wide in a ${dom.clientWidth} px window`);

  // Point labels: drawn where they overlap no other label of their chart.
  const labels = await page.evaluate(`[...document.querySelectorAll("svg.chart")].map((svg) => ({ id: svg.id,
    boxes: [...svg.querySelectorAll("text.point-label")].map((t) => { const r = t.getBoundingClientRect(); return { text: t.textContent, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom }; }),
    hidden: svg.querySelector("text.labels-hidden")?.textContent ?? "" }))`);
  let labelCount = 0;
  for (const c of labels) {
    labelCount += c.boxes.length;
    for (let i = 0; i < c.boxes.length; i++) {
      for (let j = i + 1; j < c.boxes.length; j++) {
        const [a, b] = [c.boxes[i], c.boxes[j]];
        if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) failures.push(`chart #${c.id}: labels "${a.text}" and "${b.text}" overlap`);
      }
    }
    if (c.id.startsWith("tput-vs-latency") && c.boxes.length === 0) failures.push(`chart #${c.id} labels none of its points (${c.hidden})`);
  }

  // Interactivity, with real mouse events on one over-time chart (every run has one).
  const chartId = "rate-over-time";
  const at = (sel) => `(() => { const el = document.querySelector(${JSON.stringify(sel)}); if (!el) return null; el.scrollIntoView({ block: "center" });
    const r = el.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`;
  const marker = `#${chartId} g.series circle.pt`;
  const p = await page.evaluate(at(marker));
  if (!p) failures.push(`chart #${chartId} has no marker (circle.pt) to hover`);
  else {
    await page.mouse("mouseMoved", p.x, p.y);
    // The marker the script picked (the nearest; with ties, the one drawn on top) and what the tooltip says.
    const hover = await page.evaluate(`(() => { const t = document.getElementById("chart-tip"), c = document.querySelector("#${chartId} circle.hover");
      const r = c?.getBoundingClientRect();
      return { tip: t && !t.hidden ? t.textContent : null, m: c && { x: c.dataset.x, y: c.dataset.y, series: c.closest(".series").dataset.name,
        dist: Math.hypot(r.left + r.width / 2 - ${p.x}, r.top + r.height / 2 - ${p.y}) } }; })()`);
    const { tip, m } = hover;
    if (!tip) failures.push(`hovering a marker of #${chartId} shows no tooltip`);
    else if (!m || m.dist > 1.5) failures.push(`hovering a marker of #${chartId} highlights no marker under the cursor (${JSON.stringify(m)})`);
    else if (!(tip.includes(m.series) && tip.includes(`= ${m.x}`) && tip.includes(`= ${m.y}`))) failures.push(`the tooltip reads "${tip}", not series ${m.series} at ${m.x}, ${m.y}`);
    const legend = await page.evaluate(at(`#${chartId} g.series .legend-entry`));
    const drawn = `[...document.querySelector("#${chartId} g.series").querySelectorAll("circle.pt")].filter((c) => c.getBoundingClientRect().width > 0).length`;
    const before = await page.evaluate(drawn);
    await page.click(legend.x, legend.y);
    const hiddenNow = await page.evaluate(drawn);
    await page.click(legend.x, legend.y);
    const after = await page.evaluate(drawn);
    if (!(before > 0 && hiddenNow === 0 && after === before)) failures.push(`clicking the legend of #${chartId} does not toggle its series (markers drawn: ${before} → ${hiddenNow} → ${after})`);
    await page.mouse("mouseMoved", 1, 1);
    console.log(`report-check: hover "${tip}"; legend toggle ${before} → ${hiddenNow} → ${after} markers; ${labelCount} point labels, none overlapping`);
  }

  const height = await page.screenshot(shotPath);
  console.log(`report-check: ${dom.svgs} svg, charts ${charts.join(", ")}; ${dom.rows.length} point rows; ${Object.keys(dom.settings).length} settings, ${dom.links.length} file links; screenshot ${shotPath} (1400×${height})`);
  failures.unshift(...page.failures);
  await page.close();
} catch (e) {
  failures.push(`protocol: ${e.message}`);
  if (page) failures.unshift(...page.failures);
}
if (failures.length) {
  for (const f of failures) console.error(`report-check: FAILED: ${f}`);
  process.exit(1);
}
console.log("report-check: ok (no console errors)");
process.exit(0);
