// End-to-end tests of the Panjereh portal in headless Chromium.
//
// Starts a real host (the `panjereh` binary in PANJEREH_BIN) with the adapters in
// PANJEREH_PLUGINS (utility-bills and the applicant test guest) on a free loopback port with
// a temporary SQLite database, reads one-time codes from its JSON log (the development
// notifier), and drives Debian's chromium through playwright-core like a citizen would.
// Screenshots of the main pages go to tests/e2e/screenshots/ (git-ignored).
//
//   PANJEREH_BIN=... PANJEREH_PLUGINS=... node tests/e2e/run.mjs
//
// `cargo xtask test` sets both after building them.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, "screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const BIN = process.env.PANJEREH_BIN;
const PLUGINS = process.env.PANJEREH_PLUGINS;
const MOCKS = process.env.PANJEREH_MOCKS;
const NID_FA = "۰۴۹۹۳۷۰۸۹۹";
const NID = "0499370899";
const MOBILE = "09121234567";

if (!BIN || !PLUGINS || !MOCKS) {
  console.error("e2e: set PANJEREH_BIN, PANJEREH_PLUGINS and PANJEREH_MOCKS (cargo xtask test does)");
  process.exit(2);
}

let failures = 0;
const results = [];

/** Runs one named step; a failure is reported and counted, the run goes on. */
async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failures++;
    results.push(`FAIL  ${name}: ${error && error.stack ? error.stack : error}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Bytes on the wire of a GET with gzip accepted (no decompression). */
function wireSize(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { "accept-encoding": "gzip" } }, (res) => {
      let size = 0;
      res.on("data", (chunk) => (size += chunk.length));
      res.on("end", () => resolve({ size, encoding: res.headers["content-encoding"] || "identity" }));
    });
    req.on("error", reject);
    req.end();
  });
}

// ---- the host -------------------------------------------------------------------------

const temp = mkdtempSync(join(tmpdir(), "panjereh-e2e-"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;

// The mock parties outside the window, each on a free port: the payment gateway is the
// one this run uses.
const mockPorts = {};
for (const name of ["police", "tax", "registry", "sms", "psp", "companies", "civil"]) mockPorts[name] = await freePort();
const mocks = spawn(
  MOCKS,
  Object.entries(mockPorts).flatMap(([name, p]) => [`--${name}`, `127.0.0.1:${p}`]),
  { stdio: ["ignore", "ignore", "inherit"] },
);
process.on("exit", () => mocks.kill());
const psp = `http://127.0.0.1:${mockPorts.psp}`;
writeFileSync(
  join(temp, "panjereh.toml"),
  `database-url = "sqlite://${temp}/panjereh.db"
cache-dir = "${temp}/cache"

[payments]
psp-url = "${psp}"
terminal-id = "dev-terminal"
password = { secret = "dev-psp-password" }
public-url = "${base}"

[representation]
companies-url = "http://127.0.0.1:${mockPorts.companies}"
civil-url = "http://127.0.0.1:${mockPorts.civil}"
token = { secret = "dev-registries-token" }

# Codes go to the host's log, where this script reads them: development mode, on loopback.
[auth]
otp = "development"
otp-backoff-ms = 0

[adapters.applicant.grant]
identity = ["national-id"]

[adapters.isfahan-municipality]
grant = { kv-quota-kib = 65536, identity = ["national-id"] }
`,
);
const host = spawn(
  BIN,
  ["--log-json", "serve", "--listen", `127.0.0.1:${port}`, "--plugins", PLUGINS, "--config", join(temp, "panjereh.toml")],
  { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "info,tower_http=warn,sqlx=warn" } },
);
const codes = new Map();
const waiting = [];
let serving;
const ready = new Promise((resolve) => (serving = resolve));
createInterface({ input: host.stderr }).on("line", (line) => {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return;
  }
  const fields = entry.fields || {};
  if (fields.message === "serving") serving();
  if (fields.code && fields.mobile) {
    codes.set(fields.mobile, fields.code);
    waiting.splice(0).forEach((wake) => wake());
  }
});
// However this script ends, the host ends with it; and the whole run has a deadline.
process.on("exit", () => host.kill());
setTimeout(() => {
  console.error("e2e: gave up after 150 s");
  process.exit(1);
}, 150_000).unref();
host.on("exit", (code) => {
  if (code !== null && code !== 0) console.error(`e2e: the host exited with ${code}`);
});

/** The one-time code the development notifier logged for `mobile`, waiting for it. */
async function codeFor(mobile) {
  for (let i = 0; i < 50 && !codes.has(mobile); i++) {
    await new Promise((resolve) => {
      waiting.push(resolve);
      setTimeout(resolve, 100);
    });
  }
  const code = codes.get(mobile);
  codes.delete(mobile);
  assert(code, `a one-time code was logged for ${mobile}`);
  return code;
}

const timeout = setTimeout(() => {
  console.error("e2e: the host did not start within 30 s");
  host.kill();
  process.exit(1);
}, 30_000);
await ready;
clearTimeout(timeout);

// ---- the browser ----------------------------------------------------------------------

if (existsSync(shots)) rmSync(shots, { recursive: true });
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

/** A page that fails the run on any CSP violation or script error. */
async function open(context) {
  const page = await context.newPage();
  page.on("console", (message) => {
    // A document answered 4xx (a form with errors is 422) is expected; sub-resources are
    // checked below.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      failures++;
      results.push(`FAIL  console error on ${page.url()}: ${message.text()}`);
    }
  });
  page.on("response", (response) => {
    const type = response.request().resourceType();
    if (type !== "document" && response.status() >= 400) {
      failures++;
      results.push(`FAIL  ${type} ${response.url()} answered ${response.status()}`);
    }
  });
  page.on("pageerror", (error) => {
    failures++;
    results.push(`FAIL  script error on ${page.url()}: ${error}`);
  });
  return page;
}

const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "fa-IR" });
const page = await open(desktop);
let trackingCode;

await step("home renders in Persian, right to left", async () => {
  await page.goto(`${base}/`);
  assert((await page.getAttribute("html", "lang")) === "fa", "lang=fa");
  assert((await page.getAttribute("html", "dir")) === "rtl", "dir=rtl");
  assert(await page.isVisible("text=آب، برق، گاز و تلفن"), "the service groups are listed");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.className);
  assert(focused === "skip", `the first Tab reaches the skip link (got ${focused})`);
  await page.screenshot({ path: join(shots, "home-fa.png"), fullPage: true });
});

await step("search with Arabic-keyboard letters", async () => {
  await page.goto(`${base}/`);
  // «كتابخانه» with the Arabic kaf (U+0643), as an Arabic keyboard types it.
  await page.fill("#q", "كتابخانه");
  await page.press("#q", "Enter");
  await page.waitForURL(/\/services\?q=/);
  const titles = await page.locator("#results h3").allTextContents();
  assert(titles.length === 1 && titles[0].includes("کتابخانه"), `found the library card: ${titles}`);
  await page.fill("#q", "قبض");
  await page.click("form.filters button[type=submit]");
  await page.waitForLoadState();
  const bills = await page.locator("#results h3").allTextContents();
  assert(bills.some((t) => t.includes("استعلام قبض")), `found the bill inquiry: ${bills}`);
  await page.screenshot({ path: join(shots, "search-fa.png"), fullPage: true });
});

await step("inquiry: errors beside the fields without moving them, then the bill", async () => {
  await page.goto(`${base}/services/utility-bills/bill-details`);
  const before = await page.locator("#f-payment-id").boundingBox();
  await page.fill("#f-bill-id", "۷۷۴۸۳۱۷۸۰۰۱۴۲");
  assert((await page.inputValue("#f-bill-id")) === "7748317800142", "digits are normalized as typed");
  await page.click("form.service-form button[type=submit]");
  await page.waitForLoadState();
  const error = await page.textContent("#f-payment-id-error");
  assert(error.includes("شناسه پرداخت"), `the error names the field: ${error}`);
  const after = await page.locator("#f-payment-id").boundingBox();
  assert(Math.abs(before.y - after.y) < 1, `the field did not move (${before.y} -> ${after.y})`);
  await page.screenshot({ path: join(shots, "inquiry-errors-fa.png"), fullPage: true });
  await page.fill("#f-payment-id", "۱۷۷۰۱۶۰");
  await page.click("form.service-form button[type=submit]");
  await page.waitForSelector(".bill");
  const amount = await page.textContent(".bill .amount");
  assert(amount.includes("۱۷٬۰۰۰") && amount.includes("ریال"), `amount with Persian digits: ${amount}`);
  await page.screenshot({ path: join(shots, "inquiry-result-fa.png"), fullPage: true });
});

/** Looks up the test bill and presses its pay button: the gateway's page opens. */
async function toTheGateway() {
  await page.goto(`${base}/services/utility-bills/bill-details`);
  await page.fill("#f-bill-id", "7748317800142");
  await page.fill("#f-payment-id", "1770160");
  await page.click("form.service-form button[type=submit]");
  await page.waitForSelector(".bill form.pay button");
  await page.click(".bill form.pay button");
  await page.waitForURL((url) => url.toString().startsWith(`${psp}/pay/`));
  assert((await page.textContent("#amount")).includes("۱۷,۰۰۰"), "the gateway shows the amount");
}

await step("pay a bill: cancel on the gateway's page, nothing is taken", async () => {
  await toTheGateway();
  await page.click("#cancel");
  await page.waitForURL(/\/payments\/[0-9a-f]{32}$/);
  await page.waitForSelector("text=پرداخت انجام نشد", { timeout: 10_000 });
  assert(await page.isVisible("text=پولی از حساب شما برداشته نشد"), "no money was taken");
  await page.screenshot({ path: join(shots, "payment-canceled-fa.png"), fullPage: true });
});

await step("pay a bill on the gateway's page and see the receipt", async () => {
  await toTheGateway();
  await page.fill("#pan", "6037991234567893");
  await page.fill("#cvv2", "123");
  await page.fill("#expiry", "0512");
  await page.fill("#pin2", "123456");
  await page.screenshot({ path: join(shots, "gateway-fa.png"), fullPage: true });
  await page.click("#pay");
  await page.waitForURL(/\/payments\/[0-9a-f]{32}$/);
  await page.waitForSelector("#rrn", { timeout: 10_000 });
  assert(await page.isVisible("h1:has-text('رسید پرداخت')"), "the receipt");
  const rrn = await page.textContent("#rrn");
  assert(/^[۰-۹]{12}$/.test(rrn.trim()), `the RRN in Persian digits: ${rrn}`);
  const amount = await page.textContent("#amount");
  assert(amount.includes("۱۷٬۰۰۰") && amount.includes("ریال"), `the amount: ${amount}`);
  const paidAt = await page.textContent("#paid-at");
  assert(/۱۴[۰-۹]{2}/.test(paidAt), `a Jalali date: ${paidAt}`);
  await page.screenshot({ path: join(shots, "receipt-fa.png"), fullPage: true });
  // The same bill again: refused before any money moves.
  await page.goto(`${base}/services/utility-bills/bill-details`);
  await page.fill("#f-bill-id", "7748317800142");
  await page.fill("#f-payment-id", "1770160");
  await page.click("form.service-form button[type=submit]");
  await page.click(".bill form.pay button");
  await page.waitForSelector("text=این قبض قبلاً پرداخت شده است");
});

await step("sign in with the one-time code", async () => {
  await page.goto(`${base}/applications`);
  assert(page.url().includes("/signin?next="), "private pages ask for sign-in");
  await page.fill("#f-national_id", NID_FA);
  await page.fill("#f-mobile", MOBILE);
  await page.screenshot({ path: join(shots, "signin-fa.png"), fullPage: true });
  await page.click("main button[type=submit]");
  await page.waitForSelector("#f-code");
  const code = await codeFor(MOBILE);
  await page.fill("#f-code", code);
  await page.screenshot({ path: join(shots, "signin-code-fa.png"), fullPage: true });
  await page.click("main button[type=submit]");
  await page.waitForURL(/\/applications$/);
  const cookies = await desktop.cookies();
  const session = cookies.find((c) => c.name === "panjereh_session");
  assert(session && session.httpOnly && session.sameSite === "Lax", "an HttpOnly SameSite=Lax session cookie");
  assert(!(await page.evaluate(() => document.cookie)).includes("panjereh_session"), "scripts cannot read it");
});

await step("submit an application and see it in my applications", async () => {
  await page.goto(`${base}/services/test-office/permit`);
  await page.fill("#f-postal-code", "۱۱۹۳۶۵۳۴۷۱");
  await page.fill("#f-reference", "ESF-1404-17");
  await page.click("form.service-form button[type=submit]");
  await page.waitForURL(/\/applications\/PJ-/);
  trackingCode = (await page.textContent("#tracking-code")).trim();
  assert(/^PJ-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$/.test(trackingCode), `tracking code ${trackingCode}`);
  assert(await page.isVisible(".timeline li"), "the status timeline");
  const when = await page.getAttribute(".timeline time", "title");
  assert(/^20\d\d-\d\d-\d\d/.test(when), `the Gregorian date is at hand: ${when}`);
  const jalali = await page.textContent(".timeline time");
  assert(/^[۰-۹]{4}\/[۰-۹]{2}\/[۰-۹]{2}/.test(jalali), `a Jalali date in Persian digits: ${jalali}`);
  await page.screenshot({ path: join(shots, "application-fa.png"), fullPage: true });
  await page.click(`nav >> text=درخواست‌های من`);
  await page.waitForURL(/\/applications$/);
  assert(await page.isVisible(`text=${trackingCode}`), "my applications lists the tracking code");
  await page.screenshot({ path: join(shots, "my-applications-fa.png"), fullPage: true });
  await page.goto(`${base}/data-usage`);
  assert(await page.isVisible("td >> text=کد ملی"), "the national ID hand-over is listed");
  await page.screenshot({ path: join(shots, "data-usage-fa.png"), fullPage: true });
});

await step("pay an application's fee; the agency moves it on and the inbox says so", async () => {
  await page.goto(`${base}/services/test-office/permit`);
  await page.fill("#f-postal-code", "1193653471");
  await page.fill("#f-reference", "with-fee");
  await page.click("form.service-form button[type=submit]");
  await page.waitForURL(/\/applications\/PJ-/);
  const code = (await page.textContent("#tracking-code")).trim();
  const fee = await page.textContent(".bill .amount");
  assert(fee.includes("۲٬۵۰۰٬۰۰۰"), `the fee on the application: ${fee}`);
  await page.click(".bill form.pay button");
  await page.waitForURL((url) => url.toString().startsWith(`${psp}/pay/`));
  await page.fill("#pan", "6037991234567893");
  await page.click("#pay");
  await page.waitForSelector("#rrn", { timeout: 10_000 });
  await page.goto(`${base}/applications/${code}`);
  assert(await page.isVisible(".status-in-review"), "the agency moved the application to review on payment");
  await page.screenshot({ path: join(shots, "application-paid-fa.png"), fullPage: true });
  let inbox = "";
  for (let i = 0; i < 20 && !inbox.includes("رسید پرداخت"); i++) {
    await page.goto(`${base}/inbox`);
    inbox = await page.textContent("main");
    if (!inbox.includes("رسید پرداخت")) await new Promise((r) => setTimeout(r, 250));
  }
  assert(inbox.includes("رسید پرداخت") && inbox.includes(code), `the receipt and the status change in the inbox: ${inbox}`);
  await page.screenshot({ path: join(shots, "inbox-fa.png"), fullPage: true });
});

await step("switch to English", async () => {
  await page.goto(`${base}/`);
  await page.click("nav >> text=English");
  await page.waitForLoadState();
  assert((await page.getAttribute("html", "lang")) === "en", "lang=en");
  assert((await page.getAttribute("html", "dir")) === "ltr", "dir=ltr");
  await page.screenshot({ path: join(shots, "home-en.png"), fullPage: true });
  await page.goto(`${base}/applications/${trackingCode}`);
  assert(await page.isVisible("text=Progress"), "the application page in English");
  await page.screenshot({ path: join(shots, "application-en.png"), fullPage: true });
  await page.click("nav >> text=فارسی");
  await page.waitForLoadState();
  assert((await page.getAttribute("html", "dir")) === "rtl", "and back to Persian");
});

await step("a 360 px phone", async () => {
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  await phone.addCookies((await desktop.cookies()).filter((c) => c.name === "panjereh_session"));
  const p = await open(phone);
  for (const [path, name] of [
    ["/", "phone-home-fa.png"],
    ["/services/utility-bills/bill-details", "phone-service-fa.png"],
    [`/applications/${trackingCode}`, "phone-application-fa.png"],
    ["/services?category=tests", "phone-services-fa.png"],
  ]) {
    await p.goto(`${base}${path}`);
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    assert(width <= 360, `${path} fits 360 px (scroll width ${width})`);
    await p.screenshot({ path: join(shots, name), fullPage: true });
  }
  await phone.close();
});

await step("without JavaScript: catalogue and tracking", async () => {
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  await nojs.addCookies((await desktop.cookies()).filter((c) => c.name === "panjereh_session"));
  const p = await nojs.newPage();
  await p.goto(`${base}/`);
  await p.fill("#q", "قبض");
  await p.press("#q", "Enter");
  await p.waitForURL(/\/services\?q=/);
  assert((await p.locator("#results h3").count()) >= 1, "search works without scripts");
  await p.goto(`${base}/`);
  await p.fill("#code", trackingCode.toLowerCase().replaceAll("-", ""));
  await p.press("#code", "Enter");
  await p.waitForURL(/\/applications\/PJ-/);
  assert(await p.isVisible(`text=${trackingCode}`), "tracking works without scripts");
  await nojs.close();
});

await step("act for a company, file for it, and see it in both lists", async () => {
  await page.goto(`${base}/representation`);
  assert(await page.isVisible("text=شرکت ساختمانی زاینده‌رود"), "the companies registry lists the company");
  assert(await page.isVisible("text=سارا رضایی"), "the civil registry lists the child under 18");
  await page.screenshot({ path: join(shots, "representation-fa.png"), fullPage: true });
  // As the person, the company's service says who it is for.
  await page.goto(`${base}/services/isfahan-municipality/contractor-renewal`);
  await page.selectOption("#f-field", "roads");
  await page.fill("#f-grade", "۳");
  await page.click("form.service-form button[type=submit]");
  assert(await page.isVisible("text=این خدمت برای اشخاص حقوقی است"), "a person alone cannot file for a company");

  await page.goto(`${base}/representation`);
  await page.click("li.card:has-text('زاینده‌رود') button");
  await page.waitForURL(/\/applications$/);
  assert(await page.isVisible("nav >> text=از طرف"), "every page says for whom the session acts");
  assert(!(await page.isVisible(`text=${trackingCode}`)), "the person's applications are not the company's");
  await page.goto(`${base}/services/isfahan-municipality/contractor-renewal`);
  await page.selectOption("#f-field", "roads");
  await page.fill("#f-grade", "۳");
  await page.click("form.service-form button[type=submit]");
  await page.waitForURL(/\/applications\/PJ-/);
  const companyCode = (await page.textContent("#tracking-code")).trim();
  await page.screenshot({ path: join(shots, "company-application-fa.png"), fullPage: true });
  await page.click(`nav >> text=درخواست‌های من`);
  await page.waitForURL(/\/applications$/);
  assert(await page.isVisible(`text=${companyCode}`), "the company's list has its application");

  await page.goto(`${base}/representation`);
  await page.click("text=بازگشت به اقدام از طرف خودم");
  await page.goto(`${base}/applications`);
  assert(await page.isVisible(`text=${trackingCode}`), "back to the person's own applications");
  assert(await page.isVisible("text=آنچه شما از طرف دیگران انجام دادید"), "the person's list of what they did for others");
  assert(await page.isVisible(`td >> text=${companyCode}`), "the company's application is in the person's list too");
  assert(await page.isVisible("text=۱۰۳۸۰۲۸۴۷۹۰"), "named by the company's national legal ID");
  await page.screenshot({ path: join(shots, "acted-for-others-fa.png"), fullPage: true });
});

await step("sign out", async () => {
  await page.goto(`${base}/`);
  await page.click("nav button:has-text('خروج')");
  await page.waitForURL(`${base}/`);
  const cookies = await desktop.cookies();
  assert(!cookies.some((c) => c.name === "panjereh_session"), "the session cookie is gone");
});

await step("page weights under 150 KB compressed", async () => {
  const html = await (await fetch(`${base}/services/utility-bills/bill-details`)).text();
  const css = html.match(/href="(\/static\/portal\.[0-9a-f]+\.css)"/)[1];
  const js = html.match(/src="(\/static\/portal\.[0-9a-f]+\.js)"/)[1];
  const assets = (await wireSize(`${base}${css}`)).size + (await wireSize(`${base}${js}`)).size;
  for (const path of ["/", "/services", "/services/utility-bills/bill-details", "/signin"]) {
    const { size, encoding } = await wireSize(`${base}${path}`);
    assert(encoding === "gzip", `${path} is gzip-compressed`);
    const total = size + assets;
    results.push(`      weight ${path}: ${size} B page + ${assets} B css+js = ${total} B compressed`);
    assert(total < 150 * 1024, `${path} weighs ${total} bytes`);
  }
});

await browser.close();
host.kill();
rmSync(temp, { recursive: true, force: true });
console.log(results.join("\n"));
console.log(failures === 0 ? "e2e: all passed" : `e2e: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
