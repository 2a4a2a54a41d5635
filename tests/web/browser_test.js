// The web console in headless Chromium, driven by playwright-core; run by
// tests/web/browser_test.py, which starts the supervisor and says where
// everything is (environment below). Prints "ok NAME" / "not ok NAME: why".
//
//   KVMBOX_URL       https://127.0.0.1:PORT of a supervisor with no admin yet
//   PLAYWRIGHT_CORE  the playwright-core package folder
//   CHROMIUM         the browser binary
//   SCREENSHOTS      the folder for one PNG per screen
//   HAS_KVM          "1" when this host has /dev/kvm (then a start would work)
//   HAS_VM_API       "1" when the supervisor has POST /api/vms
//   CERT_A, KEY_A    a self-signed ECDSA P-256 certificate and its key (PEM files)
//   KEY_B            another P-256 key: with CERT_A, a mismatched pair
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const URL = process.env.KVMBOX_URL;
const SHOTS = process.env.SCREENSHOTS;
const PASSWORD = 'browser test password';
const T = 10000; // ms for anything to show

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
    result(name, await fn());
  } catch (e) {
    result(name, e.message || e);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// Every visible form control has a name a screen reader can say.
async function unlabelled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.offsetParent !== null && !el.closest('.xterm'))
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML.slice(0, 80)));
}

async function labels(page, screen) {
  await check(`labels_${screen}`, async () => {
    const bad = await unlabelled(page);
    return bad.length ? `controls without a label: ${bad.join(' ')}` : null;
  });
}

// The text of the error shown for the last action (a form's or the status line's).
async function shownError(page) {
  const el = page.locator('.msg.err').last();
  await el.waitFor({ timeout: T });
  return (await el.innerText()).trim();
}

async function heading(page, text) {
  await page.getByRole('heading', { level: 1, name: text }).waitFor({ timeout: T });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const csp = [];
  const pageErrors = [];
  page.on('console', (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) csp.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(e.message));

  try {
    // First boot: no admin password yet, so the page asks for one.
    await check('setup_screen', async () => {
      await page.goto(URL + '/');
      await heading(page, 'Welcome to kvmbox');
      await shot(page, 'setup');
      return null;
    });
    await labels(page, 'setup');
    await check('setup_mismatch_readable', async () => {
      await page.getByLabel('New admin password').fill(PASSWORD);
      await page.getByLabel('Same password again').fill(PASSWORD + 'x');
      await page.getByRole('button', { name: 'Set password' }).click();
      const e = await shownError(page);
      return /differ/.test(e) ? null : `shown: ${e}`;
    });
    await check('setup_then_dashboard', async () => {
      await page.getByLabel('Same password again').fill(PASSWORD);
      await page.getByRole('button', { name: 'Set password' }).click();
      await heading(page, 'Dashboard');
      await page.getByRole('region', { name: 'CPU' }).waitFor({ timeout: T });
      return null;
    });

    await check('dashboard_facts', async () => {
      const text = await page.locator('main').innerText();
      const want = ['CPU', 'Memory', 'KVM', 'IOMMU', 'Uptime', 'Certificate', 'self-signed'];
      const missing = want.filter((w) => !text.includes(w));
      await shot(page, 'dashboard');
      return missing.length ? `the dashboard lacks ${missing.join(', ')}` : null;
    });

    await check('logout', async () => {
      await page.getByRole('button', { name: 'Log out' }).click();
      await heading(page, 'Log in to kvmbox');
      return null;
    });
    await labels(page, 'login');

    await check('login_wrong_password', async () => {
      await page.getByLabel('User').fill('admin');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Log in' }).click();
      const e = await shownError(page);
      await shot(page, 'login-error');
      if (!/wrong user or password/.test(e)) return `shown: ${e}`;
      return (await page.locator('#nav').isVisible()) ? 'the menu shows after a wrong password' : null;
    });

    await check('login', async () => {
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByLabel('Password').press('Enter'); // the keyboard alone logs in
      await heading(page, 'Dashboard');
      return null;
    });

    if (process.env.HAS_VM_API === '1') {
      await check('vm_create_form', async () => {
        await page.getByRole('link', { name: 'Virtual machines' }).click();
        await heading(page, 'Virtual machines');
        await page.getByRole('link', { name: 'New VM' }).click();
        await heading(page, 'New virtual machine');
        await page.getByLabel('Name', { exact: true }).fill('web1');
        await page.getByLabel('vCPUs', { exact: true }).fill('1');
        await page.getByLabel('Memory', { exact: true }).fill('256M');
        await page.getByLabel('Kernel', { exact: true }).fill('/boot/vmlinuz');
        await shot(page, 'vm-form');
        await page.getByRole('button', { name: 'Create VM' }).click();
        await heading(page, 'VM web1');
        return null;
      });
      await labels(page, 'vm_page');
      await check('vm_console_terminal', async () => {
        await page.locator('.term-wrap .xterm').waitFor({ timeout: T });
        await shot(page, 'vm');
        return null;
      });
      await check('vm_in_list', async () => {
        await page.getByRole('link', { name: 'Virtual machines' }).click();
        const row = page.locator('tr[data-vm="web1"]');
        await row.waitFor({ timeout: T });
        const text = await row.innerText();
        await shot(page, 'vms');
        return /stopped/.test(text) && /256M/.test(text) ? null : `row: ${text}`;
      });
      // The VM is made to look running (its GET is rewritten) and its
      // counters are made up, with a count that goes up on each read: the
      // page shows them anew every 2 s, and stops reading once left.
      await check('vm_counters_live', async () => {
        let reads = 0;
        await page.route('**/api/vms/web1', async (route) => {
          const r = await route.fetch();
          const j = await r.json();
          j.state = 'running';
          j.uptime_s = 5;
          await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(j) });
        });
        await page.route('**/api/vms/web1/counters', (route) => {
          reads++;
          route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ exits: { io: reads } }) });
        });
        try {
          await page.goto(URL + '/#/vm/web1');
          await heading(page, 'VM web1');
          await page.locator('td', { hasText: 'exits.io' }).waitFor({ timeout: T });
          const first = reads;
          await page.waitForTimeout(4500);
          const during = reads;
          const shown = await page.locator('tr', { hasText: 'exits.io' }).innerText();
          await page.getByRole('link', { name: 'Virtual machines' }).click();
          await heading(page, 'Virtual machines');
          await page.waitForTimeout(2500);
          if (during - first < 2) return `${during - first} reads in 4.5 s`;
          if (!shown.includes(String(during))) return `the table shows ${shown}, the last read gave ${during}`;
          return reads === during ? null : `${reads - during} reads after leaving the page`;
        } finally {
          await page.unroute('**/api/vms/web1');
          await page.unroute('**/api/vms/web1/counters');
        }
      });
      if (process.env.HAS_KVM !== '1') {
        await check('vm_start_error_readable', async () => {
          await page.getByRole('button', { name: 'Start web1' }).click();
          const e = await shownError(page);
          await shot(page, 'vm-start-error');
          return /\/dev\/kvm/.test(e) && !/[{}]/.test(e) ? null : `shown: ${e}`;
        });
      } else {
        console.log('ok vm_start_error_readable # SKIP this host has /dev/kvm, so a start would work');
      }
      await check('vm_create_duplicate_readable', async () => {
        await page.goto(URL + '/#/vms/new');
        await heading(page, 'New virtual machine');
        await page.getByLabel('Name', { exact: true }).fill('web1');
        await page.getByLabel('Kernel', { exact: true }).fill('/boot/vmlinuz');
        await page.getByRole('button', { name: 'Create VM' }).click();
        const e = await shownError(page);
        return /web1/.test(e) && !/[{}]/.test(e) ? null : `shown: ${e}`;
      });
      await labels(page, 'vm_form');
    }

    await check('image_upload_progress', async () => {
      await page.getByRole('link', { name: 'Images' }).click();
      await heading(page, 'Images');
      await page.getByLabel('Image file').setInputFiles({ name: 'tiny.img', mimeType: 'application/octet-stream', buffer: Buffer.alloc(256 * 1024, 7) });
      if ((await page.getByLabel('Name on the appliance').inputValue()) !== 'tiny.img') return 'the name is not taken from the file';
      await page.getByRole('button', { name: 'Upload', exact: true }).click();
      await page.getByText('tiny.img is uploaded').waitFor({ timeout: T });
      const bar = await page.locator('progress').first().evaluate((p) => p.value);
      await page.locator('td', { hasText: 'tiny.img' }).waitFor({ timeout: T });
      await shot(page, 'images');
      return bar === 100 ? null : `progress ends at ${bar}`;
    });
    await labels(page, 'images');

    await check('devices_screen', async () => {
      await page.getByRole('link', { name: 'Host devices' }).click();
      await heading(page, 'Host devices');
      await page.locator('table, .msg').first().waitFor({ timeout: T });
      await shot(page, 'devices');
      return null;
    });

    // This host has no mdev parents, so the list is given two made-up types
    // (the real API still answers the create): one whose parent is not there
    // (404) and one whose name is no sysfs name (400). The create is held
    // back a moment so that the button's progress can be seen.
    await check('mdev_create_errors_readable', async () => {
      const fake = [
        { parent: '0000:00:7f.0', type: 'mtty-2', name: 'Dual-port serial', device_api: 'vfio-pci', description: null, available_instances: 2 },
        { parent: '..', type: 'mtty-1', name: 'Bad name', device_api: 'vfio-pci', description: null, available_instances: 1 },
      ];
      await page.route('**/api/host/pci', async (route) => {
        const r = await route.fetch();
        const j = await r.json();
        j.mdev_types = (j.mdev_types || []).concat(fake);
        await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(j) });
      });
      await page.route('**/api/host/mdevs', async (route) => {
        await new Promise((ok) => setTimeout(ok, 400));
        await route.continue();
      });
      try {
        await page.getByRole('link', { name: 'Dashboard' }).click();
        await heading(page, 'Dashboard');
        await page.getByRole('link', { name: 'Host devices' }).click();
        const btn = page.getByRole('button', { name: 'Create an instance of mtty-2 on 0000:00:7f.0' });
        await btn.click();
        const during = await btn.innerText();
        const e = await shownError(page);
        await shot(page, 'devices-mdev-error');
        if (!/Creating/.test(during)) return `the button said ${during} while creating`;
        if (!/no mdev parent 0000:00:7f\.0/.test(e) || /[{}]/.test(e)) return `shown: ${e}`;
        if (!(await btn.isEnabled()) || (await btn.innerText()) !== 'Create instance') return 'the button did not come back';
        await page.getByRole('button', { name: 'Create an instance of mtty-1 on ..' }).click();
        await page.locator('.msg.err', { hasText: 'is not an mdev parent and type' }).waitFor({ timeout: T });
        return null;
      } finally {
        await page.unroute('**/api/host/pci');
        await page.unroute('**/api/host/mdevs');
      }
    });
    await labels(page, 'devices');

    await check('settings_token', async () => {
      await page.getByRole('link', { name: 'Settings' }).click();
      await heading(page, 'Settings');
      await page.getByLabel('What the token is for').fill('browser test');
      await page.getByRole('button', { name: 'Make token' }).click();
      const secret = await page.locator('#token-secret').inputValue({ timeout: T });
      await page.locator('td', { hasText: 'browser test' }).waitFor({ timeout: T });
      return secret.startsWith('kvmbox_') ? null : `secret ${secret}`;
    });
    await check('settings_fingerprint', async () => {
      const fp = await page.locator('#fingerprint').innerText();
      return /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(fp) ? null : `fingerprint ${fp}`;
    });
    await labels(page, 'settings');
    await check('password_wrong_readable', async () => {
      const form = page.locator('#password-form');
      await form.getByLabel('Current password').fill('not it at all');
      await form.getByLabel('New password', { exact: true }).fill('another password 2');
      await form.getByLabel('New password again').fill('another password 2');
      await form.getByRole('button', { name: 'Change password' }).click();
      const e = await shownError(page);
      await shot(page, 'settings');
      return /current password is wrong/.test(e) ? null : `shown: ${e}`;
    });

    await check('network_form_bad_address_readable', async () => {
      const form = page.locator('#network-form');
      await form.getByLabel('Address from').selectOption('static');
      await form.getByLabel('Address with prefix').fill('192.168.1.300/24');
      await form.getByLabel('Gateway').fill('192.168.1.1');
      await form.getByRole('button', { name: 'Save network settings' }).click();
      const e = page.locator('#network-result .msg.err');
      await e.waitFor({ timeout: T });
      const text = (await e.innerText()).trim();
      await shot(page, 'settings-network-error');
      return /network\.address/.test(text) && !/[{}]/.test(text) ? null : `shown: ${text}`;
    });
    await check('network_form_dhcp_next_boot', async () => {
      const form = page.locator('#network-form');
      await form.getByLabel('Address from').selectOption('dhcp');
      if (await form.getByLabel('Address with prefix').isVisible()) return 'the static fields show with DHCP';
      await form.getByLabel('Host name').fill('kvmbox-web');
      await form.getByRole('button', { name: 'Save network settings' }).click();
      const ok = page.locator('#network-result .msg.ok');
      await ok.waitFor({ timeout: T });
      const text = (await ok.innerText()).trim();
      return /next boot/.test(text) ? null : `shown: ${text}`;
    });
    await check('network_interfaces_shown', async () => {
      await page.locator('section[aria-labelledby="network-h"] table').waitFor({ timeout: T });
      return null;
    });

    if (process.env.CERT_A) {
      const certA = fs.readFileSync(process.env.CERT_A, 'utf8');
      const keyA = fs.readFileSync(process.env.KEY_A, 'utf8');
      const keyB = fs.readFileSync(process.env.KEY_B, 'utf8');
      const fp = () => page.locator('#fingerprint').innerText();
      // Wait until the shown fingerprint is no longer `from`.
      const changed = async (from) => {
        for (let i = 0; i < T / 100; i++) {
          const now = await fp();
          if (now !== from && /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(now)) return now;
          await page.waitForTimeout(100);
        }
        throw new Error(`the fingerprint stays ${from}`);
      };
      const form = page.locator('#cert-form');
      let before = null;
      await check('cert_mismatch_readable', async () => {
        await page.locator('#cert-source').waitFor({ timeout: T });
        before = await fp();
        await form.getByLabel('Certificate chain (PEM) file').setInputFiles(process.env.CERT_A);
        const ta = form.getByLabel('Certificate chain (PEM)', { exact: true });
        for (let i = 0; i < 50 && !(await ta.inputValue()).includes('BEGIN CERTIFICATE'); i++) await page.waitForTimeout(100);
        if ((await ta.inputValue()) !== certA) return 'the picked file did not fill the certificate box';
        await form.getByLabel('Private key (PEM)', { exact: true }).fill(keyB);
        await form.getByRole('button', { name: 'Upload certificate' }).click();
        const e = page.locator('#cert-result .msg.err');
        await e.waitFor({ timeout: T });
        const text = (await e.innerText()).trim();
        await shot(page, 'settings-cert-error');
        if (!/does not belong/.test(text) || /[{}]/.test(text)) return `shown: ${text}`;
        return (await fp()) === before ? null : 'the fingerprint changed on a refused pair';
      });
      let user = null;
      await check('cert_upload_changes_fingerprint', async () => {
        await form.getByLabel('Private key (PEM)', { exact: true }).fill(keyA);
        await form.getByRole('button', { name: 'Upload certificate' }).click();
        user = await changed(before);
        await page.locator('#cert-result .msg.ok').waitFor({ timeout: T });
        const src = await page.locator('#cert-source').innerText();
        return /your own/.test(src) ? null : `source shown: ${src}`;
      });
      await check('cert_regenerate_changes_fingerprint', async () => {
        let asked = '';
        page.once('dialog', (d) => { asked = d.message(); d.accept(); });
        await page.getByRole('button', { name: 'Regenerate self-signed certificate' }).click();
        const now = await changed(user);
        await page.locator('#cert-result .msg.ok').waitFor({ timeout: T });
        const src = await page.locator('#cert-source').innerText();
        if (!/new self-signed/i.test(asked)) return `no confirmation asked (${asked})`;
        if (now === before) return 'the same fingerprint as before';
        return /self-signed/.test(src) ? null : `source shown: ${src}`;
      });
      await check('cert_back_to_self_signed', async () => {
        await form.getByLabel('Certificate chain (PEM)', { exact: true }).fill(certA);
        await form.getByLabel('Private key (PEM)', { exact: true }).fill(keyA);
        const self = await fp();
        await form.getByRole('button', { name: 'Upload certificate' }).click();
        await changed(self);
        page.once('dialog', (d) => d.accept());
        await page.getByRole('button', { name: 'Go back to self-signed' }).click();
        await changed(user);
        const src = await page.locator('#cert-source').innerText();
        return /self-signed/.test(src) ? null : `source shown: ${src}`;
      });
    } else {
      console.log('ok cert_upload_changes_fingerprint # SKIP no openssl to make a pair');
    }
    await labels(page, 'settings_network_certificate');
    await check('settings_screenshot', async () => {
      await shot(page, 'settings');
      return null;
    });

    await check('phone_layout', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByRole('link', { name: 'Dashboard' }).click();
      await heading(page, 'Dashboard');
      await page.getByRole('region', { name: 'CPU' }).waitFor({ timeout: T });
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await shot(page, 'phone-dashboard');
      if (process.env.HAS_VM_API === '1') {
        await page.getByRole('link', { name: 'Virtual machines' }).click();
        await page.locator('tr[data-vm="web1"]').waitFor({ timeout: T });
        await shot(page, 'phone-vms');
      }
      return over > 1 ? `the page is ${over} px wider than a phone` : null;
    });

    await check('no_csp_violations', () => (csp.length ? csp.join(' | ') : null));
    await check('no_script_errors', () => (pageErrors.length ? pageErrors.join(' | ') : null));
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
  result('browser', e.stack || e);
  process.exit(1);
});
