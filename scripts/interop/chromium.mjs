// Drives Debian's Chromium (headless, QUIC forced for the origin, the
// server's SPKI pinned) through puppeteer-core: loads /healthz, then runs
// every case of cases.json with fetch() from that same-origin page.
// Prints one JSON line per case: {client, case, status, proto, body, h3}
// where h3 is the protocol CDP reported for the response ("h3").
// Usage: node chromium.mjs BASE_URL PIN TOKEN CASES_JSON
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.INTEROP_NODE_DIR, 'package.json'));
const puppeteer = require('puppeteer-core');
const [base, pin, token, casesFile] = process.argv.slice(2);
const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const origin = new URL(base).host;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  userDataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'fc-chromium-')),
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--origin-to-force-quic-on=${origin}`,
    `--ignore-certificate-errors-spki-list=${pin}`],
});
try {
  const page = await browser.newPage();
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  const protoByReq = new Map(); // requestId -> protocol
  const protos = [];
  cdp.on('Network.responseReceived', (e) => { protoByReq.set(e.requestId, e.response.protocol); protos.push([e.response.url, e.response.protocol]); });
  const nav = await page.goto(`${base}/healthz`, { waitUntil: 'load', timeout: 30000 });
  if (!nav || nav.status() !== 200) throw new Error(`navigation to /healthz: ${nav && nav.status()}`);
  for (const c of cases.filter((c) => !c.only)) {
    const before = protos.length;
    const r = await page.evaluate(async (c, token) => {
      const headers = {};
      if (c.auth === 'good') headers['Authorization'] = 'Bearer ' + token;
      if (c.auth === 'bad') headers['Authorization'] = 'Bearer not-the-token';
      let body = c.body ?? null;
      if (c.big) body = '{"message":{"content":"' + 'x'.repeat(c.big) + '"}}';
      if (body !== null) headers['Content-Type'] = 'application/json';
      const resp = await fetch(c.path, { method: c.method, headers, body, cache: 'no-store' });
      return { status: resp.status, proto: resp.headers.get('x-femtoclaw-proto'), body: await resp.text() };
    }, c, token);
    // CDP events may trail the fetch promise by a tick.
    for (let i = 0; i < 50 && protos.length === before; i++) await new Promise((res) => setTimeout(res, 10));
    const h3 = protos.slice(before).map((p) => p[1]).join(',');
    console.log(JSON.stringify({ client: 'chromium', case: c.name, status: r.status, proto: r.proto, body: r.body.slice(0, 2000), h3 }));
  }
} finally {
  await browser.close();
}
