// Time to interactive of the web console's VM list, in headless Chromium;
// run by tests/bench/webui_bench.py, which starts the supervisor with the VMs
// defined. Each run is a fresh browser context (no cache, no cookie): log in
// through the API, then load /#/vms and take performance.now() (0 is the
// navigation's start) on the first frame where the list has all its rows and
// a row's button takes the focus. Prints "tti_ms X" per run.
//
//   KVMBOX_URL, PLAYWRIGHT_CORE, CHROMIUM, PASSWORD, ROWS, RUNS
'use strict';

const { chromium } = require(process.env.PLAYWRIGHT_CORE);

async function main() {
  const URL = process.env.KVMBOX_URL;
  const rows = Number(process.env.ROWS || 50);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    for (let i = 0; i < Number(process.env.RUNS || 5); i++) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
      const r = await context.request.post(URL + '/api/auth/login', { data: { user: 'admin', password: process.env.PASSWORD } });
      if (!r.ok()) throw new Error(`login: ${r.status()} ${await r.text()}`);
      const page = await context.newPage();
      await page.goto(URL + '/#/vms', { waitUntil: 'commit' });
      const ms = await (await page.waitForFunction((n) => {
        if (document.querySelectorAll('tr[data-vm]').length !== n) return false;
        const b = document.querySelector('tr[data-vm] button:not([disabled])');
        if (!b) return false;
        b.focus();
        return document.activeElement === b ? performance.now() : false;
      }, rows, { polling: 'raf', timeout: 60000 })).jsonValue();
      // Where the time went: the page's first byte, and GET /api/vms done.
      const [doc, list] = await page.evaluate(() => [performance.getEntriesByType('navigation')[0].responseStart,
        (performance.getEntriesByType('resource').find((e) => /\/api\/vms$/.test(e.name)) || {}).responseEnd || 0]);
      console.log(`tti_ms ${ms.toFixed(1)} first_byte_ms ${doc.toFixed(1)} api_vms_done_ms ${list.toFixed(1)}`);
      await context.close();
    }
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => { console.log(`error ${e.stack || e}`); process.exit(1); });
