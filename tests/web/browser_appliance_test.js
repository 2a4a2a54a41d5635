// The web console on the real appliance (QEMU TCG, through a port forward),
// in headless Chromium driven by playwright-core; run by
// tests/web/browser_appliance_test.py (MODE=test) and by
// tests/bench/webui_bench.py (MODE=latency). Prints "ok NAME" /
// "not ok NAME: why"; the latency mode prints one "latency_ms X" per key.
//
//   KVMBOX_URL       https://127.0.0.1:PORT, the forward to the appliance's 443
//   PLAYWRIGHT_CORE  the playwright-core package folder
//   CHROMIUM         the browser binary
//   SCREENSHOTS      the folder for appliance-*.png
//   PASSWORD         the admin password (the appliance has its hash)
//   GUEST_KERNEL     the test guest's kernel and initramfs, uploaded through
//   GUEST_INITRD     the Images page (unless UPLOADED=1: already there)
//   MODE             "test" or "latency"
//   KEYS             keys typed in the latency mode (100)
'use strict';

const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const URL = process.env.KVMBOX_URL;
const SHOTS = process.env.SCREENSHOTS;
const T = 60000; // ms for a screen to show: everything is slow under TCG
const SLOW = 600000; // ms for an upload or a guest to boot

let failures = 0;
function result(name, err) {
  if (err) {
    failures++;
    console.log(`not ok ${name}: ${String(err).replace(/\s+/g, ' ').slice(0, 400)}`);
  } else {
    console.log(`ok ${name}`);
  }
}

async function check(name, fn) {
  try {
    const err = await fn();
    result(name, err);
    return !err;
  } catch (e) {
    result(name, e.message || e);
    return false;
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `appliance-${name}.png`) });
}

async function heading(page, text) {
  await page.getByRole('heading', { level: 1, name: text }).waitFor({ timeout: T });
}

async function nav(page, link, title) {
  await page.getByRole('link', { name: link, exact: true }).click();
  await heading(page, title);
}

// xterm.js's DOM renderer draws one div per screen row: its text is the
// terminal's screen, without the colours.
function screenText(page) {
  return page.locator('.term-wrap .xterm-rows').innerText();
}

// Wait until a row of the terminal is exactly want (trailing blanks aside).
async function waitRow(page, want, timeout) {
  await page.waitForFunction((w) => {
    const rows = document.querySelectorAll('.term-wrap .xterm-rows > div');
    return [...rows].some((r) => r.textContent.replace(/\s+$/, '') === w);
  }, want, { timeout, polling: 100 });
}

async function login(page) {
  await page.goto(URL + '/');
  await heading(page, 'Log in to kvmbox');
  await shot(page, 'login');
  await page.getByLabel('User').fill('admin');
  await page.getByLabel('Password').fill(process.env.PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await heading(page, 'Dashboard');
  await page.getByRole('region', { name: 'CPU' }).waitFor({ timeout: T });
}

// The demo VM's console page with its terminal focused and a fresh prompt.
async function demoConsole(page) {
  await page.goto(URL + '/#/vm/demo');
  await heading(page, 'VM demo');
  await page.locator('.term-wrap .xterm-rows').waitFor({ timeout: T });
  await page.locator('.term-wrap .xterm').click();
  // An empty line brings a prompt even if the banner scrolled away.
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /# $/.test(document.querySelector('.term-wrap .xterm-rows').innerText.replace(/\s+$/, '') + ' '),
    null, { timeout: T, polling: 200 });
}

async function upload(page, file, name) {
  await page.getByLabel('Image file').setInputFiles(file);
  await page.getByLabel('Name on the appliance').fill(name);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.getByText(`Image ${name} is uploaded`).waitFor({ timeout: SLOW });
}

async function testMode(page) {
  if (!await check('appliance_browser_login', async () => { await login(page); await shot(page, 'dashboard'); return null; })) return;

  await check('appliance_browser_demo_console', async () => {
    await demoConsole(page);
    await page.keyboard.type('echo $((6*7))');
    await page.keyboard.press('Enter');
    // The shell computes 42: the echoed command line alone does not hold it.
    await waitRow(page, '42', T);
    await shot(page, 'console');
    return null;
  });

  await check('appliance_browser_upload', async () => {
    await nav(page, 'Images', 'Images');
    if (process.env.UPLOADED !== '1') {
      await upload(page, process.env.GUEST_KERNEL, 'guest-kernel');
      await upload(page, process.env.GUEST_INITRD, 'guest-initrd');
    }
    for (const n of ['guest-kernel', 'guest-initrd']) await page.locator('td', { hasText: n }).first().waitFor({ timeout: T });
    await shot(page, 'images');
    return null;
  });

  await check('appliance_browser_vm_create', async () => {
    await nav(page, 'Virtual machines', 'Virtual machines');
    await page.getByRole('link', { name: 'New VM' }).click();
    await heading(page, 'New virtual machine');
    await page.getByLabel('Name', { exact: true }).fill('web1');
    await page.getByLabel('Memory', { exact: true }).fill('128M');
    await page.getByLabel('Kernel', { exact: true }).fill('guest-kernel');
    await page.getByLabel('Initrd (optional)', { exact: true }).fill('guest-initrd');
    await page.getByLabel('Kernel command line', { exact: true }).fill('console=ttyS0 kvmbox.test=wait');
    await page.getByRole('button', { name: 'Remove NIC' }).click(); // the test guest needs none
    await shot(page, 'vm-form');
    await page.getByRole('button', { name: 'Create VM' }).click();
    await heading(page, 'VM web1');
    return null;
  });

  await check('appliance_browser_vm_start', async () => {
    await page.getByRole('button', { name: 'Start web1' }).click();
    await page.locator('.badge.running').first().waitFor({ timeout: T });
    // The test guest's init says so on its serial console: seen in xterm.
    await page.waitForFunction(() => /KVMBOX-GUEST: waiting/.test(document.querySelector('.term-wrap .xterm-rows').innerText),
      null, { timeout: SLOW, polling: 500 });
    await shot(page, 'vm');
    return null;
  });

  await check('appliance_browser_vm_list', async () => {
    await nav(page, 'Virtual machines', 'Virtual machines');
    const row = page.locator('tr[data-vm="web1"]');
    await row.waitFor({ timeout: T });
    await page.locator('tr[data-vm="demo"]').waitFor({ timeout: T });
    const text = await row.innerText();
    await shot(page, 'vms');
    return /running/.test(text) ? null : `row: ${text}`;
  });

  await check('appliance_browser_vm_stop', async () => {
    await page.getByRole('button', { name: 'Stop web1' }).click();
    await page.locator('tr[data-vm="web1"] .badge.stopped').waitFor({ timeout: SLOW });
    return null;
  });

  await check('appliance_browser_devices', async () => {
    await nav(page, 'Host devices', 'Host devices');
    await page.locator('table, .msg').first().waitFor({ timeout: T });
    await shot(page, 'devices');
    return null;
  });
  // The appliance's kernel has mdev parents (the mtty sample): an instance
  // made with the button; the .py removes it through the API afterwards.
  await check('appliance_browser_mdev_create', async () => {
    const btn = page.getByRole('button', { name: /^Create an instance of / }).and(page.locator(':enabled')).first();
    if (!(await btn.count())) {
      console.log('# no mdev type with a free instance on this appliance');
      return null;
    }
    const label = await btn.getAttribute('aria-label');
    await btn.click();
    const ok = page.locator('.msg.ok', { hasText: 'is made' });
    await ok.waitFor({ timeout: T });
    const m = (await ok.innerText()).match(/Instance ([0-9a-f-]{36}) of/);
    await ok.scrollIntoViewIfNeeded();
    await shot(page, 'devices-mdev');
    if (!m) return `shown: ${await ok.innerText()}`;
    console.log(`# mdev_uuid ${m[1]} (${label})`);
    return null;
  });
  await check('appliance_browser_settings', async () => {
    await nav(page, 'Settings', 'Settings');
    await page.locator('#fingerprint').waitFor({ timeout: T });
    await shot(page, 'settings');
    return null;
  });
}

// Key typed to its echo drawn in the terminal, both times taken in the page:
// a keydown listener (capture, before xterm's) and a MutationObserver on the
// rows, which the renderer changes on the frame after the bytes arrive.
async function latencyMode(page) {
  await login(page);
  await demoConsole(page);
  await page.evaluate(() => {
    const rows = document.querySelector('.term-wrap .xterm-rows');
    window.lat = { down: 0 };
    document.addEventListener('keydown', () => { window.lat.down = performance.now(); }, true);
    window.echoOf = (n) => new Promise((resolve) => {
      const tail = () => rows.innerText.replace(/\s+$/, '');
      const done = () => tail().endsWith('q'.repeat(n)) && !tail().endsWith('q'.repeat(n + 1));
      const ob = new MutationObserver(() => {
        if (done()) { ob.disconnect(); resolve(performance.now() - window.lat.down); }
      });
      ob.observe(rows, { childList: true, subtree: true, characterData: true });
    });
  });
  const keys = Number(process.env.KEYS || 100);
  const BATCH = 10; // keys on one command line, then Enter and a new prompt
  for (let i = 0; i < keys; i++) {
    const n = (i % BATCH) + 1;
    await page.evaluate((k) => { window.pending = window.echoOf(k); }, n);
    await page.keyboard.press('q');
    const ms = await page.evaluate(() => Promise.race([window.pending, new Promise((r) => setTimeout(() => r(-1), 30000))]));
    console.log(`latency_ms ${ms.toFixed(2)}`);
    if (n === BATCH) {
      await page.keyboard.press('Control+U'); // the line editor drops the line
      await page.waitForFunction(() => /# $/.test(document.querySelector('.term-wrap .xterm-rows').innerText.replace(/\s+$/, '') + ' '),
        null, { timeout: T, polling: 50 });
    }
  }
  await shot(page, 'latency');
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    if (process.env.MODE === 'latency') await latencyMode(page);
    else {
      await testMode(page);
      await check('appliance_browser_no_script_errors', () => (errors.length ? errors.join(' | ') : null));
    }
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
  result('appliance_browser', e.stack || e);
  process.exit(1);
});
