// The console's main journey in Firefox (Debian's firefox-esr), driven by puppeteer-core over
// WebDriver BiDi (playwright cannot drive Debian's Firefox). Run by
// tests/console/test_browser.py::test_the_console_works_in_firefox, which prepares the
// server and the data and checks what this prints:
//
//   node journey.mjs <config.json>   →  one JSON object on stdout
//
// Every step is checked in the test (Python), not here: this script only acts and reports.
// Requests to hosts other than the loopback go to a proxy that does not exist (Firefox
// never proxies the loopback), and each one is reported.

import { readFileSync } from "node:fs";
import puppeteer from "puppeteer-core";

const config = JSON.parse(readFileSync(process.argv[2], "utf-8"));
const TIMEOUT = 60_000;
const report = { steps: {}, requests: [], pageErrors: [], cspViolations: [] };

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: config.firefox,
  headless: true,
  protocolTimeout: 120_000,
  extraPrefsFirefox: {
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "",
    "network.proxy.allow_hijacking_localhost": false,
    "app.update.enabled": false,
    "browser.safebrowsing.malware.enabled": false,
    "browser.safebrowsing.phishing.enabled": false,
  },
});

async function texts(page, selector) {
  return page.$$eval(selector, (nodes) => nodes.map((node) => node.textContent.trim()));
}

async function settled(page) {
  await page.waitForFunction(
    () =>
      document.documentElement.dataset.ready === "true" &&
      !document.querySelector("main").hasAttribute("aria-busy"),
    { timeout: TIMEOUT },
  );
}

try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("request", (request) => report.requests.push(request.url()));
  page.on("pageerror", (error) => report.pageErrors.push(String(error?.message ?? error)));
  await page.evaluateOnNewDocument(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (event) => {
      window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
    });
  });
  const collectCsp = async () => {
    report.cspViolations.push(...(await page.evaluate(() => window.__cspViolations ?? [])));
  };

  // sign in: a wrong password first
  await page.goto(`${config.base}/console`);
  await page.waitForSelector("#sign-in-heading");
  await page.type('input[name="username"]', config.username);
  await page.type('input[name="password"]', "not-the-password");
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    () => document.querySelector("#sign-in-error")?.textContent.trim().length > 0,
  );
  report.steps.wrongPassword = (await texts(page, "#sign-in-error"))[0];
  await page.$eval('input[name="password"]', (input) => {
    input.value = "";
  });
  await page.type('input[name="password"]', config.password);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#signed-in-user");
  report.steps.signedIn = (await texts(page, "#signed-in-user"))[0];
  report.steps.token = await page.evaluate(() => localStorage.getItem("token"));

  // the runs table: filtered, ordered, paged forward and back
  await page.goto(
    `${config.base}/console#/runs?trainedBy=${encodeURIComponent(config.trainer)}&order=ACCURACY&size=10`,
  );
  await settled(page);
  await page.waitForSelector("#runs-table");
  const ids = () => texts(page, "#runs-table tbody tr td:nth-child(2)");
  report.steps.firstPage = await ids();
  await page.click('button[data-focus-key="next"]');
  await page.waitForFunction(
    (first) =>
      document.querySelector("#runs-table tbody tr td:nth-child(2)")?.textContent.trim() !== first,
    {},
    report.steps.firstPage[0],
  );
  report.steps.secondPage = await ids();
  await page.click('button[data-focus-key="previous"]');
  await page.waitForFunction(
    (first) =>
      document.querySelector("#runs-table tbody tr td:nth-child(2)")?.textContent.trim() === first,
    {},
    report.steps.firstPage[0],
  );
  report.steps.backPage = await ids();
  await collectCsp();

  // the run page: the heat map's counts
  await page.goto(`${config.base}/console#/runs/${config.runId}`);
  await page.waitForSelector("#confusion-matrix");
  report.steps.matrix = await page.$$eval("#confusion-matrix tbody tr", (rows) =>
    rows.map((row) => [...row.querySelectorAll("td")].map((cell) => Number(cell.textContent))),
  );
  report.steps.importances = await texts(page, "#feature-importances tbody th");
  await collectCsp();

  // the dataset toggle, and a reload
  await page.goto(`${config.base}/console#/datasets/${config.datasetId}`);
  const toggle = `button[data-dataset-id="${config.datasetId}"]`;
  await page.waitForSelector(toggle);
  report.steps.toggleBefore = (await texts(page, toggle))[0];
  await page.click(toggle);
  await page.waitForFunction(
    (s) => document.querySelector(s)?.textContent === "✓ Trained",
    {},
    toggle,
  );
  await page.reload();
  await page.waitForSelector(toggle);
  await settled(page);
  report.steps.toggleAfterReload = (await texts(page, toggle))[0];

  // a background training, followed live over the WebSocket
  await page.$eval('input[name="nEstimators"]', (input) => {
    input.value = "";
  });
  await page.type('input[name="nEstimators"]', String(config.trees));
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  await page.click("#train-button");
  await page.waitForFunction(
    () =>
      document.querySelector("#training-timeline li:last-child")?.dataset.status === "COMPLETED",
    { timeout: 180_000 },
  );
  report.steps.timeline = await page.$$eval("#training-timeline li", (items) =>
    items.map((item) => item.dataset.status),
  );
  report.steps.sameDocument = await page.evaluate(() => window.__sameDocument === true);
  await collectCsp();

  report.userAgent = await browser.version();
} catch (error) {
  report.error = String(error?.stack ?? error);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
