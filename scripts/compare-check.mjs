// compare-check.mjs — opens a `kprod compare --html` page in headless Chromium (scripts/cdp.mjs) and checks it
// against the comparison's JSON (`kprod compare --json`):
//   * no uncaught exception, no console error, no browser log error;
//   * the four overlaid charts (compare-tput-vs-latency, compare-spectrum, compare-rate-over-time,
//     compare-p99-over-time) are <svg class="chart">, drawn at a non-zero size, each with a base and a new series;
//   * one tr.verdict per metric change, with the JSON's point, metric and verdict, its interval and confidence;
//   * the outcome line says "Regression" exactly when some verdict is worse; every shape warning is listed;
//   * nothing wider than the viewport.
// Saves a full-page screenshot. Usage: node compare-check.mjs PAGE.html COMPARISON.json SCREENSHOT.png [CHROMIUM]
// Exits 1 with one line per failure.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { openPage } from "./cdp.mjs";

const [pagePath, jsonPath, shotPath, chromium = "chromium"] = process.argv.slice(2);
if (!pagePath || !jsonPath || !shotPath) {
  console.error("usage: node compare-check.mjs PAGE.html COMPARISON.json SCREENSHOT.png [CHROMIUM]");
  process.exit(2);
}
const cmp = JSON.parse(readFileSync(jsonPath, "utf8"));
const charts = ["compare-tput-vs-latency", "compare-spectrum", "compare-rate-over-time", "compare-p99-over-time"];
const slug = (v) => (v === "insufficient" ? "insufficient" : v);

const failures = [];
let page;
try {
  page = await openPage(chromium, pathToFileURL(resolve(pagePath)).href);
  const dom = await page.evaluate(`(() => {
    const charts = ${JSON.stringify(charts)}.map((id) => {
      const el = document.getElementById(id);
      if (!el) return { id, found: false };
      const r = el.getBoundingClientRect();
      return { id, found: true, tag: el.tagName.toLowerCase(), cls: el.getAttribute("class") || "", width: r.width, height: r.height,
               series: [...el.querySelectorAll("g.series")].map((g) => g.dataset.name),
               marks: el.querySelectorAll("circle,polyline").length };
    });
    const rows = [...document.querySelectorAll("tr.verdict")].map((tr) => ({
      point: tr.dataset.point, metric: tr.dataset.metric, verdict: tr.dataset.verdict,
      cells: [...tr.querySelectorAll("td")].map((td) => td.textContent), title: tr.querySelector("td.verdict")?.title ?? "" }));
    return { charts, rows, outcome: document.getElementById("outcome")?.textContent ?? "",
             warnings: document.querySelectorAll("li.shape-warning").length,
             scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth };
  })()`);
  for (const c of dom.charts) {
    if (!c.found) failures.push(`chart #${c.id} is missing`);
    else if (c.tag !== "svg" || !c.cls.split(/\s+/).includes("chart")) failures.push(`#${c.id} is a <${c.tag} class="${c.cls}">, not <svg class="chart">`);
    else if (!(c.width > 50 && c.height > 50)) failures.push(`chart #${c.id} is drawn at ${c.width}×${c.height} px`);
    else if (c.marks < 3) failures.push(`chart #${c.id} holds only ${c.marks} marks`);
    else if (!c.series.some((n) => n.startsWith("base")) || !c.series.some((n) => n.startsWith("new"))) {
      failures.push(`chart #${c.id} does not overlay both runs (series: ${c.series.join(", ")})`);
    }
  }
  if (dom.rows.length !== cmp.changes.length) failures.push(`the verdict table has ${dom.rows.length} rows, the JSON ${cmp.changes.length} changes`);
  for (const m of cmp.changes) {
    const r = dom.rows.find((r) => r.point === m.point && r.metric === m.metric);
    if (!r) {
      failures.push(`no verdict row for ${m.point} ${m.metric}`);
      continue;
    }
    if (r.verdict !== slug(m.verdict)) failures.push(`${m.point} ${m.metric}: the page says ${r.verdict}, the JSON ${m.verdict}`);
    if (!r.title.includes(`${Math.round(m.confidence_pct)} % confidence`)) failures.push(`${m.point} ${m.metric}: the verdict does not state its confidence`);
    if (m.ci_low_pct != null && !r.cells.some((t) => t.startsWith("[") && t.includes(m.ci_low_pct.toFixed(1)))) {
      failures.push(`${m.point} ${m.metric}: the interval ${m.ci_low_pct.toFixed(1)}.. is not shown (${r.cells.join(" | ")})`);
    }
  }
  const worse = cmp.changes.some((m) => m.verdict === "worse");
  if (worse !== dom.outcome.startsWith("Regression")) failures.push(`the outcome line "${dom.outcome}" does not match the verdicts`);
  if (dom.warnings !== cmp.warnings.length) failures.push(`${dom.warnings} shape warnings shown, the JSON has ${cmp.warnings.length}`);
  if (dom.scrollWidth > dom.clientWidth + 1) failures.push(`the page overflows horizontally: ${dom.scrollWidth} px wide in a ${dom.clientWidth} px window`);
  const height = await page.screenshot(shotPath);
  console.log(`compare-check: charts ${charts.join(", ")}; ${dom.rows.length} verdict rows (${worse ? "regression" : "no regression"}); screenshot ${shotPath} (1400×${height})`);
  failures.unshift(...page.failures);
  await page.close();
} catch (e) {
  failures.push(`protocol: ${e.message}`);
  if (page) failures.unshift(...page.failures);
}
if (failures.length) {
  for (const f of failures) console.error(`compare-check: FAILED: ${f}`);
  process.exit(1);
}
console.log("compare-check: ok (no console errors)");
process.exit(0);
