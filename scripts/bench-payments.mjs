// Completed payments per second through the whole round trip, against a running host and
// its mock payment gateway on loopback, side by side with the plain bill inquiry in the
// same run (the ratio is the figure to quote; absolute numbers depend on the machine).
//
// One round trip: POST /api/v1/payments (a fresh, valid bill each time: a bill is paid
// once), the gateway's pay form (a card that pays), the callback the gateway's page posts
// back, and GET /api/v1/payments/{id} answering `settled`.
//
//   cargo xtask run            # in another terminal (or scripts/load.sh's release host)
//   node scripts/bench-payments.mjs
//
// BASE (http://127.0.0.1:8080), PSP (http://127.0.0.1:9105), SMS (http://127.0.0.1:9104),
// SECONDS (10), WORKERS (8). Both loops run signed in (the one-time code is read from the mock
// SMS gateway's outbox), so the per-client limit on anonymous inquiries does not apply.

const BASE = process.env.BASE || "http://127.0.0.1:8080";
const PSP = process.env.PSP || "http://127.0.0.1:9105";
const SECONDS = Number(process.env.SECONDS || 10);
const WORKERS = Number(process.env.WORKERS || 8);
const SMS = process.env.SMS || "http://127.0.0.1:9104";

async function signIn() {
  const who = { national_id: "0499370899", mobile: "09121234567" };
  const post = (path, body) =>
    fetch(`${BASE}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const started = await post("/auth/otp/start", who);
  if (started.status !== 202) throw new Error(`sign-in: ${started.status} ${await started.text()}`);
  const outbox = await (await fetch(`${SMS}/outbox`)).json();
  const code = outbox.find((m) => m.receptor === who.mobile).message.match(/\d{5}/)[0];
  const verified = await post("/auth/otp/verify", { national_id: who.national_id, code });
  return (await verified.json()).token;
}
const TOKEN = await signIn();
const auth = { authorization: `Bearer ${TOKEN}` };

/** The bill standard's check digit: weights 2..7 from the right, mod 11. */
function check(digits) {
  let sum = 0;
  [...digits].reverse().forEach((d, i) => (sum += Number(d) * (2 + (i % 6))));
  const r = sum % 11;
  return r < 2 ? 0 : 11 - r;
}

// A random start, so that runs against the same database never reuse a paid bill.
let serial = 10_000_000 + Math.floor(Math.random() * 80_000_000);
/** A valid, never-used bill: file ID + company 123 + service type 2, 1000 rials. */
function freshBill() {
  serial += 1;
  const body = `${serial}1232`;
  const billId = `${body}${check(body)}`;
  const pay = "1" + "4" + "01"; // 1 thousand rials, year digit 4, period 01
  const first = `${pay}${check(pay)}`;
  const paymentId = `${first}${check(billId + first)}`;
  return { bill_id: billId, payment_id: paymentId };
}

async function roundTrip() {
  const opened = await fetch(`${BASE}/api/v1/payments`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify(freshBill()),
  });
  if (opened.status !== 201) throw new Error(`open: ${opened.status} ${await opened.text()}`);
  const order = await opened.json();
  const token = order.pay_url.split("/").pop();
  const paid = await fetch(`${PSP}/pay/${token}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "action=pay&pan=6037991234567893",
  });
  const page = await paid.text();
  const fields = new URLSearchParams();
  for (const m of page.matchAll(/name="([^"]+)" value="([^"]*)"/g)) fields.append(m[1], m[2]);
  const back = await fetch(`${BASE}/payments/callback`, { method: "POST", body: fields, redirect: "manual" });
  if (back.status !== 303) throw new Error(`callback: ${back.status}`);
  const state = await (await fetch(`${BASE}/api/v1/payments/${order.id}`, { headers: auth })).json();
  if (state.state !== "settled") throw new Error(`not settled: ${state.state}`);
}

async function inquiry() {
  const answer = await fetch(`${BASE}/api/v1/services/utility-bills/bill-details/inquiries`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({ input: { "bill-id": "7748317800142", "payment-id": "1770160" } }),
  });
  if (answer.status !== 200) throw new Error(`inquiry: ${answer.status}`);
  await answer.arrayBuffer();
}

async function measure(name, once) {
  const latencies = [];
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        try {
          await once();
          latencies.push(performance.now() - started);
        } catch (error) {
          if (errors++ < 3) console.error(`${name}: ${error.message}`);
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const rate = latencies.length / SECONDS;
  const p99 = latencies[Math.floor(latencies.length * 0.99)] || 0;
  console.log(`${name.padEnd(22)} ${rate.toFixed(1).padStart(8)}/s   p99 ${p99.toFixed(1)} ms   errors ${errors}`);
  return { rate, p99 };
}

const plain = await measure("bill inquiry", inquiry);
const pay = await measure("payment round trip", roundTrip);
console.log(`ratio (payments/s to inquiries/s): ${(pay.rate / plain.rate).toFixed(3)}; p99 ratio ${(pay.p99 / plain.p99).toFixed(1)}x`);
