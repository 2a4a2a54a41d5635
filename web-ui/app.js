// The kvmbox web console: one page, hash routes, the REST API under /api.
// No framework: the DOM is built with h() below (never from HTML strings, so
// names and messages from the API cannot inject markup), and each screen is a
// function that fills <main>. Changing requests carry the session's CSRF
// token; every API error is shown with the API's own message.

const S = { user: null, csrf: null, via: null, wanted: null, host: null };

// ---------- DOM ----------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected') el[k] = true;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

let uid = 0;
// A labelled control: the label names the input for screen readers.
function field(label, input, hint) {
  if (!input.id) input.id = 'f' + ++uid;
  const kids = [h('label', { for: input.id }, label), input];
  if (hint) {
    const hid = input.id + '-hint';
    input.setAttribute('aria-describedby', hid);
    kids.push(h('div', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, kids);
}

function checkbox(label, attrs) {
  return h('label', { class: 'check' }, h('input', Object.assign({ type: 'checkbox' }, attrs)), h('span', null, label));
}

function msg(kind, ...text) {
  return h('div', { class: 'msg ' + kind, role: kind === 'err' ? 'alert' : null }, text);
}

// On a phone each row becomes a card: every cell says its column (data-label).
function table(headers, rows) {
  for (const tr of rows) [...tr.children].forEach((td, i) => td.setAttribute('data-label', headers[i] || ''));
  return h('div', { class: 'table-wrap' },
    h('table', null, h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, rows)));
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter((p) => p).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

// ---------- formatting ----------

function fmtBytes(n) {
  if (n === null || n === undefined || isNaN(n)) return 'unknown';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  n = Number(n);
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + u[i];
}

function fmtMem(m) {
  if (m === undefined || m === null || m === '') return '512M (default)';
  return typeof m === 'number' ? fmtBytes(m) : String(m);
}

function fmtDuration(s) {
  if (s === null || s === undefined || isNaN(s)) return '–';
  s = Math.floor(Number(s));
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), mi = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${mi} min`;
  if (mi) return s % 60 ? `${mi} min ${s % 60} s` : `${mi} min`;
  return `${s} s`;
}

function fmtTime(unix) {
  return unix ? new Date(unix * 1000).toLocaleString() : '–';
}

const enc = encodeURIComponent;

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(status, statusText, text) {
  let code = 'error', message = `${status} ${statusText}`.trim();
  try {
    const j = JSON.parse(text);
    if (j && j.error) {
      code = j.error.code || code;
      message = j.error.message || message;
    }
  } catch (e) { /* not JSON: keep the status line */ }
  return new ApiError(status, code, message);
}

// api('POST', '/api/x', {json: {...}}) -> parsed JSON, text, or null (204).
// {raw: true} gives the Response; {quiet401: true} keeps the screen on a 401.
async function api(method, path, opts = {}) {
  const headers = {};
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = opts.type || 'application/octet-stream';
    body = opts.body;
  }
  if (method !== 'GET' && method !== 'HEAD' && S.csrf) headers['X-CSRF-Token'] = S.csrf;
  let r;
  try {
    r = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the appliance: ${e.message}`);
  }
  if (!r.ok) {
    const err = await errorOf(r.status, r.statusText, await r.text().catch(() => ''));
    if (r.status === 401 && !opts.quiet401) sessionLost(err.message);
    throw err;
  }
  if (opts.raw) return r;
  if (r.status === 204) return null;
  const type = r.headers.get('Content-Type') || '';
  return type.includes('json') ? r.json() : r.text();
}

function sessionLost(why) {
  if (!S.user) return;
  S.user = S.csrf = null;
  S.wanted = location.hash;
  go('#/login', 'warn', `Logged out: ${why}`);
}

// ---------- status messages and busy buttons ----------

const statusEl = () => document.getElementById('status');

function notify(kind, text) {
  const el = statusEl();
  el.replaceChildren(h('div', { class: 'msg ' + kind },
    h('span', null, text),
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss this message', onclick: () => el.replaceChildren() }, '×')));
}

// Run fn with button disabled and saying what is happening. An error is shown
// with the API's message (in where, else in the status line) and not thrown
// on: the caller gets undefined.
async function busy(button, label, fn, where) {
  const old = button ? button.textContent : null;
  if (button) {
    button.disabled = true;
    button.textContent = label;
    button.setAttribute('aria-busy', 'true');
  }
  try {
    return await fn();
  } catch (e) {
    if (where) where.replaceChildren(msg('err', e.message));
    else notify('err', e.message);
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.textContent = old;
      button.removeAttribute('aria-busy');
    }
  }
}

// ---------- routing ----------

let cleanups = [];
let pendingNote = null;

function onLeave(fn) { cleanups.push(fn); }

// Call fn now and every ms while this screen shows (not while the tab is hidden).
function every(ms, fn) {
  const t = setInterval(() => { if (!document.hidden) fn(); }, ms);
  onLeave(() => clearInterval(t));
}

function go(hash, kind, text) {
  if (kind) pendingNote = [kind, text];
  if (location.hash === hash) render();
  else location.hash = hash;
}

const routes = [
  [/^#\/login$/, viewLogin, 'Log in', true],
  [/^#\/setup$/, viewSetup, 'First-boot setup', true],
  [/^(?:#\/?)?$/, viewDashboard, 'Dashboard'],
  [/^#\/vms$/, viewVms, 'Virtual machines'],
  [/^#\/vms\/new$/, viewVmForm, 'New virtual machine'],
  [/^#\/vm\/([^/]+)\/edit$/, viewVmForm, 'Edit virtual machine'],
  [/^#\/vm\/([^/]+)$/, viewVm, 'Virtual machine'],
  [/^#\/images$/, viewImages, 'Images'],
  [/^#\/devices$/, viewDevices, 'Host devices'],
  [/^#\/settings$/, viewSettings, 'Settings'],
];

let renderSeq = 0;

async function render() {
  for (const fn of cleanups) fn();
  cleanups = [];
  const seq = ++renderSeq;
  const hash = location.hash;
  let view = null, title = 'Not found', args = [], open = false;
  for (const [re, fn, t, pub] of routes) {
    const m = hash.match(re);
    if (m) {
      view = fn; title = t; open = !!pub;
      args = m.slice(1).filter((x) => x !== undefined).map(decodeURIComponent);
      break;
    }
  }
  if (!open && !S.user) {
    S.wanted = hash;
    return go('#/login');
  }
  document.getElementById('nav').hidden = !S.user;
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href');
    const here = target === '#/' ? /^(?:#\/?)?$/.test(hash)
      : hash === target || hash.startsWith(target + '/') || hash.startsWith(target.replace(/s$/, '') + '/');
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  statusEl().replaceChildren();
  if (pendingNote) {
    notify(...pendingNote);
    pendingNote = null;
  }
  const main = document.getElementById('main');
  document.title = `${title} – kvmbox`;
  const box = h('div');
  main.replaceChildren(box);
  if (!view) {
    box.append(h('h1', null, 'Not found'), msg('err', `There is no screen at ${hash}.`), h('a', { href: '#/' }, 'Dashboard'));
    return;
  }
  try {
    await view(box, ...args);
  } catch (e) {
    if (seq === renderSeq) box.append(msg('err', e.message));
  }
  // A new screen: focus goes to it (unless the screen put it on a field).
  if (seq === renderSeq && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

// ---------- login and setup ----------

function viewLogin(box) {
  const err = h('div');
  const user = h('input', { name: 'user', autocomplete: 'username', required: true, value: 'admin' });
  const pw = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', { class: 'stack', 'aria-describedby': 'login-err' },
    field('User', user), field('Password', pw), h('div', { class: 'actions' }, btn));
  err.id = 'login-err';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    await busy(btn, 'Logging in…', async () => {
      try {
        const s = await api('POST', '/api/auth/login', { json: { user: user.value, password: pw.value }, quiet401: true });
        S.user = s.user; S.csrf = s.csrf; S.via = s.via;
        const to = S.wanted && !/^#\/(login|setup)$/.test(S.wanted) ? S.wanted : '#/';
        S.wanted = null;
        go(to, 'ok', `Logged in as ${s.user}.`);
      } catch (e) {
        if (e.status === 409 && /setup/.test(e.message)) return go('#/setup', 'info', e.message);
        pw.value = '';
        pw.focus();
        throw e;
      }
    }, err);
  });
  box.append(h('div', { class: 'auth card' }, h('h1', null, 'Log in to kvmbox'), err, form));
  pw.focus();
}

function viewSetup(box) {
  const err = h('div');
  const pw = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const pw2 = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Set password');
  const form = h('form', { class: 'stack' },
    field('New admin password', pw, '8 characters or more.'), field('Same password again', pw2),
    h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    if (pw.value !== pw2.value) {
      err.replaceChildren(msg('err', 'The two passwords differ.'));
      pw2.focus();
      return;
    }
    await busy(btn, 'Setting the password…', async () => {
      await api('POST', '/api/auth/setup', { json: { password: pw.value }, quiet401: true });
      const s = await api('POST', '/api/auth/login', { json: { user: 'admin', password: pw.value }, quiet401: true });
      S.user = s.user; S.csrf = s.csrf; S.via = s.via;
      go('#/', 'ok', 'The admin password is set, and you are logged in as admin.');
    }, err);
  });
  box.append(h('div', { class: 'auth card' }, h('h1', null, 'Welcome to kvmbox'),
    h('p', null, 'No admin password is set yet. Choose one now; you log in with the user name “admin”.'),
    h('p', { class: 'hint' }, 'For safety this works only from the appliance itself (127.0.0.1). ' +
      'From another machine, start kvmbox with --admin-hash instead.'),
    err, form));
  pw.focus();
}

async function logout(ev) {
  await busy(ev.currentTarget, 'Logging out…', async () => {
    await api('POST', '/api/auth/logout');
    S.user = S.csrf = null;
    go('#/login', 'ok', 'Logged out.');
  });
}

// ---------- dashboard ----------

async function viewDashboard(box) {
  const body = h('div', null, h('p', { class: 'muted' }, 'Reading the host…'));
  box.append(h('h1', null, 'Dashboard'), body);
  const draw = async () => {
    const host = await api('GET', '/api/host');
    S.host = host;
    const warn = [];
    if (!host.kvm) {
      warn.push(msg('err', 'No /dev/kvm: virtual machines cannot start on this host. Enable VT-x or AMD-V in the ' +
        'firmware settings (or nested virtualization in the outer hypervisor).'));
    }
    if (host.state && !host.state.persistent) {
      warn.push(msg('warn', `The state is kept in RAM (${host.state.dir}): VM definitions, images and settings are ` +
        'lost at power-off. Boot from the USB image with its KVMBOX-DATA partition to keep them.'));
    }
    if (host.tls && host.tls.certificate === 'self-signed') {
      warn.push(msg('warn', 'The HTTPS certificate is self-signed. Check that its SHA-256 fingerprint matches the ' +
        'one on the appliance\'s console: ', h('span', { class: 'mono' }, host.tls.sha256_fingerprint)));
    }
    if (!host.iommu) warn.push(msg('info', 'No IOMMU is on: PCI passthrough is not available.'));
    const mem = host.memory || {};
    const used = mem.total_bytes && mem.available_bytes !== null ? mem.total_bytes - mem.available_bytes : null;
    const addrs = Array.isArray(host.addresses) ? host.addresses.map((a) => (typeof a === 'string' ? a : a.address || JSON.stringify(a))) : null;
    const card = (title, big, ...more) => h('section', { class: 'card', 'aria-label': title }, h('h2', null, title), h('div', { class: 'big' }, big), more);
    body.replaceChildren(
      h('div', null, warn),
      h('div', { class: 'grid' },
        card('Host', host.hostname, h('div', { class: 'muted' }, `kvmbox ${host.version}`)),
        card('CPU', `${host.cpu.count} CPU${host.cpu.count === 1 ? '' : 's'}`, h('div', { class: 'muted' }, host.cpu.model || 'model unknown')),
        card('Memory', `${fmtBytes(mem.available_bytes)} free`,
          h('div', { class: 'muted' }, `of ${fmtBytes(mem.total_bytes)}`),
          used !== null ? h('progress', { max: String(mem.total_bytes), value: String(used), 'aria-label': 'Memory in use' }) : null),
        card('KVM', host.kvm ? 'Ready' : 'Not available', h('div', { class: 'muted' }, host.kvm ? '/dev/kvm is there' : 'VMs cannot start')),
        card('IOMMU', host.iommu ? 'On' : 'Off', h('div', { class: 'muted' }, host.iommu ? 'PCI passthrough possible' : 'no passthrough')),
        card('Uptime', fmtDuration(host.uptime_s)),
        card('Addresses', addrs && addrs.length ? addrs.join(', ') : location.host,
          h('div', { class: 'muted' }, addrs ? 'of the appliance' : 'the address this page came from')),
        card('State', host.state && host.state.persistent ? 'On disk' : 'In RAM', h('div', { class: 'muted mono' }, host.state ? host.state.dir : '')),
        card('Certificate', host.tls ? host.tls.certificate : '–', h('div', { class: 'muted mono' }, host.tls ? host.tls.sha256_fingerprint : ''))));
  };
  await draw();
  every(10000, () => draw().catch((e) => notify('err', e.message)));
}

// ---------- virtual machines ----------

const VM_ACTIONS = {
  start: ['Start', 'Starting…', 'start requested'],
  stop: ['Stop', 'Stopping…', 'stop requested (forced after its stop timeout)'],
  reboot: ['Reboot', 'Rebooting…', 'reboot requested'],
  pause: ['Pause', 'Pausing…', 'paused'],
  resume: ['Resume', 'Resuming…', 'resumed'],
};

function canDo(state, action) {
  switch (action) {
    case 'start': return state === 'stopped' || state === 'failed';
    case 'stop': return ['running', 'paused', 'starting', 'restarting'].includes(state);
    case 'reboot': return state === 'running';
    case 'pause': return state === 'running';
    case 'resume': return state === 'paused';
    default: return true;
  }
}

async function vmAction(name, action, button, body) {
  const [, doing, done] = VM_ACTIONS[action];
  const vm = await busy(button, doing, () => api('POST', `/api/vms/${enc(name)}/${action}`, { json: body || {} }));
  if (vm) notify('ok', `VM ${name}: ${done}; it is ${vm.state || 'changing'} now.`);
  return vm;
}

function vmButtons(vm, after, list) {
  return h('div', { class: 'actions' }, (list || ['start', 'stop', 'reboot']).map((a) =>
    h('button', {
      type: 'button', disabled: !canDo(vm.state, a), 'aria-label': `${VM_ACTIONS[a][0]} ${vm.name}`,
      onclick: async (ev) => { await vmAction(vm.name, a, ev.currentTarget); after(); },
    }, VM_ACTIONS[a][0])));
}

function badge(state) {
  return h('span', { class: 'badge ' + (state || 'unknown') }, state || 'unknown');
}

function noVmApi(e) {
  return e.status === 404 && /\/api\/vms/.test(e.message)
    ? msg('info', 'This appliance\'s supervisor has no VM API yet: ', e.message)
    : msg('err', e.message);
}

async function viewVms(box) {
  const list = h('div', null, h('p', { class: 'muted' }, 'Reading the VMs…'));
  box.append(h('h1', null, 'Virtual machines'),
    h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/vms/new' }, 'New VM')),
    list);
  let last = '';
  const draw = async () => {
    let data;
    try {
      data = await api('GET', '/api/vms');
    } catch (e) {
      list.replaceChildren(noVmApi(e));
      return;
    }
    const vms = (data && data.vms) || [];
    const why = data && data.can_start === false
      ? msg('warn', data.why_not || 'VMs cannot start on this host.') : null;
    const key = (why ? why.textContent : '') + JSON.stringify(vms.map((v) => [v.name, v.state, v.definition && v.definition.cpus, v.definition && v.definition.mem, Math.floor((v.uptime_s || 0) / 10)]));
    if (key === last) return;
    last = key;
    if (!vms.length) {
      list.replaceChildren(why || '', msg('info', 'There are no VMs yet. ', h('a', { href: '#/vms/new' }, 'Create one.')));
      return;
    }
    list.replaceChildren(why || '', table(['Name', 'State', 'vCPUs', 'Memory', 'Uptime', 'Actions'], vms.map((vm) => {
      const d = vm.definition || {};
      return h('tr', { 'data-vm': vm.name },
        h('td', null, h('a', { href: `#/vm/${enc(vm.name)}` }, vm.name)),
        h('td', null, badge(vm.state), vm.pending_changes ? h('div', { class: 'hint' }, 'changes wait for a restart') : null),
        h('td', null, String(d.cpus || 1)),
        h('td', null, fmtMem(d.mem)),
        h('td', null, vm.state === 'running' || vm.state === 'paused' ? fmtDuration(vm.uptime_s) : '–'),
        h('td', null, vmButtons(vm, () => { last = ''; draw(); })));
    })));
  };
  await draw();
  every(3000, draw);
}

// Image names for the pickers: GET /api/images, or null when there is none.
async function imageNames() {
  try {
    const data = await api('GET', '/api/images');
    const arr = Array.isArray(data) ? data : (data && data.images) || [];
    return arr.map((i) => (typeof i === 'string' ? i : i.name)).filter((n) => n);
  } catch (e) {
    if (e.status === 401) throw e;
    return null;
  }
}

// "path,readonly,serial=x" (the --disk / --net form) as an object.
function specObject(v, first) {
  if (typeof v !== 'string') return Object.assign({}, v);
  const o = {};
  v.split(',').forEach((part, i) => {
    const eq = part.indexOf('=');
    if (i === 0 && first && eq < 0) o[first] = part;
    else if (eq < 0) o[part] = true;
    else o[part.slice(0, eq)] = part.slice(eq + 1);
  });
  return o;
}

async function viewVmForm(box, name) {
  const editing = name !== undefined;
  box.append(h('h1', null, editing ? `Edit VM ${name}` : 'New virtual machine'));
  const loading = h('p', { class: 'muted' }, 'Reading images and host devices…');
  box.append(loading);
  const [vm, images, pci, host] = await Promise.all([
    editing ? api('GET', `/api/vms/${enc(name)}`) : null,
    imageNames(),
    api('GET', '/api/host/pci').catch((e) => ({ error: e })),
    S.host ? S.host : api('GET', '/api/host').catch(() => null),
  ]);
  loading.remove();
  const def = vm ? Object.assign({}, vm.definition || {}) : {};
  const listId = 'images-list';
  const datalist = h('datalist', { id: listId }, (images || []).map((n) => h('option', { value: n })));
  const pathHint = images
    ? (images.length ? 'Pick an uploaded image, or type an absolute path.' : 'No images are uploaded yet (see Images); an absolute path works too.')
    : 'An absolute path on the appliance, or an image name.';
  const imageInput = (attrs) => h('input', Object.assign({ list: listId, autocomplete: 'off', spellcheck: 'false' }, attrs));

  const err = h('div');
  const fName = h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9_\\-]{1,63}', maxlength: '63', value: editing ? name : '', readonly: editing, spellcheck: 'false' });
  const fCpus = h('input', { type: 'number', name: 'cpus', min: '1', max: String(Math.max(1, (host && host.cpu && host.cpu.count) || 64)), required: true, value: String(def.cpus || 1) });
  const fMem = h('input', { name: 'mem', required: true, pattern: '[0-9]+([kKmMgGtT](i?[bB])?)?', value: def.mem !== undefined ? String(def.mem) : '512M' });
  const fKernel = imageInput({ name: 'kernel', required: true, value: def.kernel || '' });
  const fInitrd = imageInput({ name: 'initrd', value: def.initrd || '' });
  const fCmdline = h('input', { name: 'cmdline', value: def.cmdline !== undefined ? def.cmdline : 'console=ttyS0', spellcheck: 'false' });
  const autostart = def.autostart !== undefined ? def.autostart : !!(vm && vm.autostart);
  const restart = def.restart || (vm && vm.restart) || 'no';
  const fAuto = checkbox('Start when the appliance boots', { name: 'autostart', checked: !!autostart });
  const fRestart = h('select', { name: 'restart' }, [['no', 'Never'], ['on-failure', 'When it fails'], ['always', 'Always']].map(([v, t]) =>
    h('option', { value: v, selected: restart === v }, t)));

  // Disks: a row each.
  const disks = h('div', { class: 'rows' });
  const addDisk = (d) => {
    d = specObject(d || {}, 'path');
    const p = imageInput({ value: d.path || '', required: true });
    const ro = h('input', { type: 'checkbox', checked: d.readonly === true || d.readonly === 'on' || d.ro === true });
    const row = h('div', { class: 'row disk' }, field('Disk', p), h('label', { class: 'check' }, ro, h('span', null, 'Read-only')),
      h('button', { type: 'button', class: 'danger', onclick: () => row.remove() }, 'Remove disk'));
    row.read = () => {
      const o = Object.assign({}, d, { path: p.value.trim() });
      delete o.ro;
      if (ro.checked) o.readonly = true; else delete o.readonly;
      return o;
    };
    disks.append(row);
    return p;
  };
  (def.disks || []).forEach((d) => addDisk(d));

  // NICs: user-mode (the appliance's NAT) or a bridge (kvbr0 is the LAN).
  const nics = h('div', { class: 'rows' });
  const addNic = (n) => {
    n = specObject(n || { user: true });
    const isUser = n.user === true || n.user === 'on' || (!n.bridge && !n.tap);
    const mode = h('select', null, h('option', { value: 'user', selected: isUser }, 'User-mode (NAT, no setup)'),
      h('option', { value: 'bridge', selected: !isUser }, 'Bridge (on the network)'));
    const br = h('input', { value: n.bridge || 'kvbr0', spellcheck: 'false' });
    const fwd = h('input', { value: [].concat(n.hostfwd || []).join(' '), placeholder: 'tcp:2222:22', spellcheck: 'false' });
    const mac = h('input', { value: n.mac || '', placeholder: 'automatic', spellcheck: 'false' });
    const brField = field('Bridge', br);
    const fwdField = field('Forwarded ports', fwd, 'PROTO:HOSTPORT:GUESTPORT, space between several');
    const sync = () => { brField.hidden = mode.value !== 'bridge'; fwdField.hidden = mode.value !== 'user'; };
    mode.addEventListener('change', sync);
    const row = h('div', { class: 'row nic' }, field('Network', mode), brField, fwdField, field('MAC address', mac),
      h('button', { type: 'button', class: 'danger', onclick: () => row.remove() }, 'Remove NIC'));
    sync();
    row.read = () => {
      const o = Object.assign({}, n);
      delete o.user; delete o.bridge; delete o.hostfwd; delete o.mac; delete o.restrict;
      if (mode.value === 'user') {
        o.user = true;
        if (n.restrict !== undefined) o.restrict = n.restrict;
        const f = fwd.value.split(/[\s,]+/).filter((x) => x);
        if (f.length) o.hostfwd = f;
        delete o.tap;
      } else {
        o.bridge = br.value.trim();
      }
      if (mac.value.trim()) o.mac = mac.value.trim();
      return o;
    };
    nics.append(row);
    return mode;
  };
  (def.nics || []).forEach((n) => addNic(n));
  if (!editing && !def.nics) addNic();

  // Passthrough: the host's PCI functions, with their IOMMU groups.
  const chosen = new Map((def.devices || []).map((d) => [String(d).split(',')[0], String(d)]));
  const devBoxes = [];
  let devices;
  if (pci.error) {
    devices = msg('err', `Cannot list the host's PCI devices: ${pci.error.message}`);
  } else {
    const fns = (pci.devices || []).filter((d) => !d.bridge);
    devices = h('div', { class: 'devs' }, fns.length ? fns.map((d) => {
      const label = `${d.bdf} ${[d.vendor, d.device].filter((x) => x).join(' ') || d.vendor_id + ':' + d.device_id} (${d.class_name})`;
      const why = d.needed_by_appliance ? `the appliance needs it: ${d.needed_by_appliance}` : d.iommu_group === null ? 'no IOMMU group' : null;
      const cb = h('input', { type: 'checkbox', value: d.bdf, checked: chosen.has(d.bdf), disabled: !!why && !chosen.has(d.bdf) });
      devBoxes.push(cb);
      const members = d.group_members || [];
      const info = [`IOMMU group ${d.iommu_group === null ? 'none' : d.iommu_group}`, `driver ${d.driver || 'none'}`].join(' · ');
      return h('div', { class: 'dev' },
        h('label', { class: 'check' }, cb, h('span', null, label, h('span', { class: 'hint' }, ' — ', info))),
        why ? h('div', { class: 'hint' }, `Not available: ${why}.`) : null,
        members.length ? msg('warn', `IOMMU group ${d.iommu_group} also holds ${members.join(', ')}: they are taken from the host together with ${d.bdf}.`) : null);
    }) : h('p', { class: 'muted' }, 'This host has no PCI functions to pass through.'));
  }
  const otherDevs = [...chosen.keys()].filter((b) => !devBoxes.some((cb) => cb.value === b));

  const btn = h('button', { type: 'submit', class: 'primary' }, editing ? 'Save changes' : 'Create VM');
  const form = h('form', { class: 'stack', id: 'vm-form' },
    datalist,
    field('Name', fName, editing ? 'The name cannot change.' : 'Letters, digits, - and _; at most 63.'),
    h('div', { class: 'row' }, field('vCPUs', fCpus), field('Memory', fMem, 'e.g. 512M or 2G')),
    field('Kernel', fKernel, pathHint),
    field('Initrd (optional)', fInitrd),
    field('Kernel command line', fCmdline, 'console=ttyS0 puts the guest\'s console on the serial console below.'),
    h('fieldset', null, h('legend', null, 'Disks'), disks,
      h('div', null, h('button', { type: 'button', onclick: () => addDisk().focus() }, 'Add disk'))),
    h('fieldset', null, h('legend', null, 'Network'), nics,
      h('div', null, h('button', { type: 'button', onclick: () => addNic().focus() }, 'Add NIC'))),
    h('fieldset', null, h('legend', null, 'PCI passthrough'), devices,
      otherDevs.length ? h('p', { class: 'hint' }, `Also kept: ${otherDevs.join(', ')}`) : null),
    h('fieldset', null, h('legend', null, 'Lifecycle'), fAuto, field('Restart', fRestart)),
    err,
    h('div', { class: 'actions' }, btn, h('a', { class: 'button', href: editing ? `#/vm/${enc(name)}` : '#/vms' }, 'Cancel')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    if (!form.reportValidity()) return;
    const d = Object.assign({}, def);
    d.name = fName.value.trim();
    d.cpus = Number(fCpus.value);
    d.mem = /^[0-9]+$/.test(fMem.value.trim()) ? Number(fMem.value.trim()) : fMem.value.trim();
    d.kernel = fKernel.value.trim();
    if (fInitrd.value.trim()) d.initrd = fInitrd.value.trim(); else delete d.initrd;
    if (fCmdline.value.trim()) d.cmdline = fCmdline.value.trim(); else delete d.cmdline;
    const dl = [...disks.children].map((r) => r.read());
    if (dl.length) d.disks = dl; else delete d.disks;
    const nl = [...nics.children].map((r) => r.read());
    if (nl.length) d.nics = nl; else delete d.nics;
    const dev = devBoxes.filter((cb) => cb.checked).map((cb) => chosen.get(cb.value) || cb.value)
      .concat(otherDevs.map((b) => chosen.get(b)));
    if (dev.length) d.devices = dev; else delete d.devices;
    d.autostart = fAuto.querySelector('input').checked;
    d.restart = fRestart.value;
    await busy(btn, editing ? 'Saving…' : 'Creating…', async () => {
      const r = editing ? await api('PUT', `/api/vms/${enc(name)}`, { json: d }) : await api('POST', '/api/vms', { json: d });
      const n = (r && r.name) || d.name;
      go(`#/vm/${enc(n)}`, 'ok', editing
        ? `VM ${n} is saved${r && r.pending_changes ? '; the changes take effect at its next start' : ''}.`
        : `VM ${n} is created. Start it with Start.`);
    }, err);
  });
  box.append(form);
  fName.focus();
}

async function viewVm(box, name) {
  const head = h('div', { class: 'vm-head' });
  const details = h('div');
  const term = h('div', { class: 'term-wrap', 'aria-label': `Serial console of ${name}`, role: 'region' });
  const termNote = h('div', { class: 'hint' }, CONSOLE_NOTE);
  const counters = h('div', null, h('p', { class: 'muted' }, 'Reading…'));
  const log = h('pre', { class: 'log', tabindex: '0', 'aria-label': `Log of ${name}` }, 'Reading…');
  box.append(h('h1', null, `VM ${name}`), head, details,
    h('h2', null, 'Serial console'), termNote, term,
    h('h2', null, 'Counters'), h('p', { class: 'hint' }, 'Updated every 2 s while the VM runs.'), h('div', { class: 'actions' }, h('button', { type: 'button', onclick: (ev) => busy(ev.currentTarget, 'Reading…', drawCounters) }, 'Refresh counters')), counters,
    h('h2', null, 'VMM log'), h('div', { class: 'actions' }, h('button', { type: 'button', onclick: (ev) => busy(ev.currentTarget, 'Reading…', drawLog) }, 'Refresh log')), log);

  let vm = null, lastKey = '';
  const drawVm = async () => {
    vm = await api('GET', `/api/vms/${enc(name)}`);
    const key = JSON.stringify([vm.state, vm.pid, vm.restarts, vm.last_exit, vm.pending_changes, Math.floor((vm.uptime_s || 0) / 5), vm.definition]);
    if (key === lastKey) return;
    lastKey = key;
    const d = vm.definition || {};
    const refresh = () => { lastKey = ''; drawVm().catch((e) => notify('err', e.message)); };
    head.replaceChildren(h('p', null, 'State: ', badge(vm.state)),
      h('div', { class: 'actions' },
        vmButtons(vm, refresh, ['start', 'stop', 'reboot', 'pause', 'resume']),
        h('button', {
          type: 'button', class: 'danger', disabled: !canDo(vm.state, 'stop'), 'aria-label': `Force stop ${name}`,
          onclick: async (ev) => { await busy(ev.currentTarget, 'Stopping…', async () => { await api('POST', `/api/vms/${enc(name)}/stop`, { json: { force: true } }); notify('ok', `VM ${name}: forced stop requested.`); }); refresh(); },
        }, 'Force stop'),
        h('a', { class: 'button', href: `#/vm/${enc(name)}/edit` }, 'Edit'),
        h('button', {
          type: 'button', class: 'danger', disabled: !(vm.state === 'stopped' || vm.state === 'failed'),
          onclick: async (ev) => {
            if (!confirm(`Delete VM ${name}? Its definition is removed; its images stay.`)) return;
            await busy(ev.currentTarget, 'Deleting…', async () => { await api('DELETE', `/api/vms/${enc(name)}`); go('#/vms', 'ok', `VM ${name} is deleted.`); });
          },
        }, 'Delete')));
    details.replaceChildren(h('div', { class: 'card' }, kv([
      ['vCPUs', String(d.cpus || 1)], ['Memory', fmtMem(d.mem)],
      ['Kernel', h('span', { class: 'mono' }, d.kernel || '–')],
      d.initrd ? ['Initrd', h('span', { class: 'mono' }, d.initrd)] : null,
      ['Command line', h('span', { class: 'mono' }, d.cmdline || '–')],
      ['Disks', (d.disks || []).map((x) => specObject(x, 'path')).map((x) => `${x.path}${x.readonly ? ' (read-only)' : ''}`).join(', ') || 'none'],
      ['NICs', (d.nics || []).map((x) => specObject(x)).map((x) => (x.bridge ? `bridge ${x.bridge}` : 'user-mode') + (x.mac ? ` ${x.mac}` : '')).join(', ') || 'none'],
      ['Devices', (d.devices || []).join(', ') || 'none'],
      ['Uptime', vm.state === 'running' || vm.state === 'paused' ? fmtDuration(vm.uptime_s) : '–'],
      vm.pid ? ['PID', String(vm.pid)] : null,
      ['Restarts', String(vm.restarts || 0)],
      vm.last_exit ? ['Last exit', `${vm.last_exit.reason || ''} (code ${vm.last_exit.code})`] : null,
      ['Autostart', (d.autostart !== undefined ? d.autostart : vm.autostart) ? 'yes' : 'no'],
      ['Restart', d.restart || vm.restart || 'no'],
      vm.pending_changes ? ['Pending', 'the saved definition differs from the running one; it takes effect at the next start'] : null,
    ])));
  };
  const drawCounters = async () => {
    try {
      const c = await api('GET', `/api/vms/${enc(name)}/counters`);
      const rows = [];
      const walk = (o, pre) => {
        for (const [k, v] of Object.entries(o || {})) {
          if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, pre + k + '.');
          else rows.push(h('tr', null, h('td', { class: 'mono' }, pre + k), h('td', null, Array.isArray(v) ? v.join(', ') : String(v))));
        }
      };
      walk(c, '');
      counters.replaceChildren(rows.length ? table(['Counter', 'Value'], rows) : h('p', { class: 'muted' }, 'No counters.'));
    } catch (e) {
      counters.replaceChildren(msg(e.status === 409 ? 'info' : 'err', e.message));
    }
  };
  const drawLog = async () => {
    try {
      const t = await api('GET', `/api/vms/${enc(name)}/log`);
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = t || '(empty)';
      if (atEnd) log.scrollTop = log.scrollHeight;
    } catch (e) {
      log.textContent = e.message;
    }
  };

  try {
    await drawVm();
  } catch (e) {
    head.replaceChildren(noVmApi(e));
    return;
  }
  drawCounters();
  drawLog();
  every(3000, () => drawVm().catch((e) => notify('err', e.message)));
  // Live counters: every 2 s while the VM runs; every() stops on leaving the page.
  every(2000, () => { if (vm && vm.state === 'running') drawCounters(); });
  every(5000, drawLog);
  startConsole(name, term, termNote);
}

// The serial console: xterm.js fed by a WebSocket (GET .../console/ws). A
// text frame {"offset":N} says where the binary frames (console bytes)
// start, {"error":...} that typing did not reach the VM; keystrokes go back
// as binary frames of at most 4096 bytes. A socket that closes is opened
// again from the last offset, so nothing is seen twice. If it never opens
// (a proxy that does not pass WebSockets), the console polls
// GET .../console?offset=N and POSTs keystrokes, batched while one is on its way.
const CONSOLE_NOTE = 'Click the console to type.';
const CONSOLE_INPUT_MAX = 4096; // VMS_INPUT_MAX: bytes of one message

async function startConsole(name, el, note) {
  let stopped = false;
  onLeave(() => { stopped = true; });
  let Terminal, FitAddon;
  try {
    [{ Terminal }, { FitAddon }] = await Promise.all([import('./xterm.mjs'), import('./addon-fit.mjs')]);
  } catch (e) {
    note.replaceChildren(msg('err', `Cannot load the terminal: ${e.message}`));
    return;
  }
  if (stopped) return;
  const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace', screenReaderMode: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  const refit = () => { try { fit.fit(); } catch (e) { /* not laid out yet */ } };
  refit();
  window.addEventListener('resize', refit);
  onLeave(() => { window.removeEventListener('resize', refit); term.dispose(); });

  let offset = 0, pending = '', sending = false, problem = '';
  let ws = null, polling = false, everOpened = false, failures = 0;
  const say = (text) => {
    if (text === problem) return;
    problem = text;
    note.replaceChildren(text ? msg('info', text) : CONSOLE_NOTE);
  };
  const dropped = (start) => {
    if (offset && start > offset) term.write(`\r\n\x1b[33m[${start - offset} bytes of console output were dropped]\x1b[0m\r\n`);
  };
  const utf8 = new TextEncoder();
  const flush = async () => {
    if (!pending || stopped) return;
    if (!polling) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return; // sent once it opens
      const b = utf8.encode(pending);
      pending = '';
      for (let i = 0; i < b.length; i += CONSOLE_INPUT_MAX) ws.send(b.subarray(i, i + CONSOLE_INPUT_MAX));
      return;
    }
    if (sending) return;
    sending = true;
    const data = pending;
    pending = '';
    try {
      await api('POST', `/api/vms/${enc(name)}/console`, { body: utf8.encode(data) });
    } catch (e) {
      say(`Typing did not reach the VM: ${e.message}`);
    }
    sending = false;
    if (pending) flush();
  };
  term.onData((d) => { pending += d; flush(); });

  const poll = async () => {
    if (stopped) return;
    let wait = 1000;
    if (!document.hidden) {
      try {
        const r = await api('GET', `/api/vms/${enc(name)}/console?offset=${offset}`, { raw: true });
        const buf = new Uint8Array(await r.arrayBuffer());
        dropped(Number(r.headers.get('X-Console-Start')));
        if (buf.length && !stopped) term.write(buf);
        const next = r.headers.get('X-Console-Offset');
        offset = next !== null ? Number(next) : offset + buf.length;
        say('');
        if (buf.length) wait = 250;
      } catch (e) {
        say(`The console cannot be read: ${e.message}`);
        wait = 3000;
      }
    }
    if (!stopped) setTimeout(poll, wait);
  };

  const connect = () => {
    if (stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(`${scheme}//${location.host}/api/vms/${enc(name)}/console/ws?offset=${offset}`);
    sock.binaryType = 'arraybuffer';
    let opened = false;
    ws = sock;
    sock.onopen = () => {
      opened = everOpened = true;
      failures = 0;
      say('');
      flush();
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data !== 'string') {
        const buf = new Uint8Array(ev.data);
        offset += buf.length;
        if (!stopped) term.write(buf);
        return;
      }
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.offset !== undefined) {
        dropped(m.offset);
        offset = m.offset; // lower after the VM was made anew under this name
      } else if (m.error) {
        say(`Typing did not reach the VM: ${m.error.message}`);
      }
    };
    sock.onclose = () => {
      if (ws === sock) ws = null;
      if (stopped) return;
      // Never opened at all: WebSockets do not get through; poll instead.
      // Failing again and again after it worked (logged out, say): the
      // polling path reports why.
      if (!opened && (!everOpened || ++failures >= 3)) {
        polling = true;
        poll();
        flush();
        return;
      }
      say('The console connection was lost; reconnecting…');
      setTimeout(connect, opened ? 500 : 2000);
    };
  };
  onLeave(() => { if (ws) ws.close(1000); });
  connect();
}

// ---------- images ----------

async function viewImages(box) {
  const list = h('div', null, h('p', { class: 'muted' }, 'Reading the images…'));
  const err = h('div');
  const file = h('input', { type: 'file', required: true });
  const name = h('input', { required: true, pattern: '[A-Za-z0-9._\\-]{1,128}', spellcheck: 'false', autocomplete: 'off' });
  file.addEventListener('change', () => {
    if (file.files[0]) name.value = file.files[0].name.replace(/[^A-Za-z0-9._-]/g, '_');
  });
  const bar = h('progress', { max: '100', value: '0', 'aria-label': 'Upload progress', hidden: true });
  const barText = h('div', { class: 'hint', 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Upload');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel upload');
  const form = h('form', { class: 'stack' }, field('Image file', file, 'A kernel, an initrd or a disk image.'),
    field('Name on the appliance', name, 'Letters, digits, “.”, “-” and “_”.'),
    bar, barText, err, h('div', { class: 'actions' }, btn, cancel));
  box.append(h('h1', null, 'Images'), list, h('h2', null, 'Upload an image'), h('div', { class: 'card' }, form));

  const draw = async () => {
    let data;
    try {
      data = await api('GET', '/api/images');
    } catch (e) {
      list.replaceChildren(e.status === 404 && /\/api\/images/.test(e.message)
        ? msg('info', 'This appliance\'s supervisor has no image store yet: ', e.message) : msg('err', e.message));
      return;
    }
    const arr = (Array.isArray(data) ? data : (data && data.images) || []).map((i) => (typeof i === 'string' ? { name: i } : i));
    const ram = data && data.in_ram ? msg('warn', 'Images are kept in RAM on this appliance: they are lost at power-off.') : '';
    list.replaceChildren(ram, arr.length ? table(['Name', 'Size', 'Changed', 'Actions'], arr.map((i) => h('tr', null,
      h('td', { class: 'mono' }, i.name),
      h('td', null, i.uploading
        ? `uploading: ${fmtBytes(i.received)} of ${fmtBytes(i.expected)}`
        : i.size !== undefined ? fmtBytes(i.size) : '–'),
      h('td', null, i.modified ? fmtTime(i.modified) : '–'),
      h('td', null, h('button', {
        type: 'button', class: 'danger', 'aria-label': `Delete image ${i.name}`,
        onclick: async (ev) => {
          if (!confirm(`Delete image ${i.name}?`)) return;
          await busy(ev.currentTarget, 'Deleting…', async () => { await api('DELETE', `/api/images/${enc(i.name)}`); notify('ok', `Image ${i.name} is deleted.`); });
          draw();
        },
      }, 'Delete'))))) : msg('info', 'No images yet.'));
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    if (!form.reportValidity()) return;
    const f = file.files[0];
    const xhr = new XMLHttpRequest();
    const t0 = performance.now();
    const done = () => { btn.disabled = false; btn.textContent = 'Upload'; cancel.hidden = true; };
    btn.disabled = true;
    btn.textContent = 'Uploading…';
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    barText.textContent = `0 of ${fmtBytes(f.size)}`;
    xhr.open('PUT', `/api/images/${enc(name.value)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    if (S.csrf) xhr.setRequestHeader('X-CSRF-Token', S.csrf);
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.floor((e.loaded / e.total) * 100);
      const rate = e.loaded / Math.max(0.001, (performance.now() - t0) / 1000);
      bar.value = pct;
      barText.textContent = `${fmtBytes(e.loaded)} of ${fmtBytes(e.total)} (${pct} %), ${fmtBytes(rate)}/s`;
    });
    xhr.addEventListener('load', async () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = 100;
        barText.textContent = `${fmtBytes(f.size)} uploaded.`;
        notify('ok', `Image ${name.value} is uploaded (${fmtBytes(f.size)}).`);
        form.reset();
        draw();
      } else {
        const e = await errorOf(xhr.status, xhr.statusText, xhr.responseText);
        barText.textContent = 'The upload failed.';
        err.replaceChildren(msg('err', e.message));
        if (xhr.status === 401) sessionLost(e.message);
      }
    });
    xhr.addEventListener('error', () => { done(); barText.textContent = ''; err.replaceChildren(msg('err', 'The upload failed: the connection to the appliance broke.')); });
    xhr.addEventListener('abort', () => { done(); barText.textContent = 'The upload was cancelled.'; });
    cancel.onclick = () => xhr.abort();
    onLeave(() => { if (xhr.readyState !== 4) xhr.abort(); });
    xhr.send(f);
  });
  await draw();
}

// ---------- host devices ----------

async function viewDevices(box) {
  box.append(h('h1', null, 'Host devices'));
  const pci = await api('GET', '/api/host/pci');
  const rows = (pci.devices || []).map((d) => h('tr', null,
    h('td', { class: 'mono' }, d.bdf),
    h('td', null, [d.vendor, d.device].filter((x) => x).join(' ') || `${d.vendor_id}:${d.device_id}`,
      h('div', { class: 'hint mono' }, `${d.vendor_id}:${d.device_id}`)),
    h('td', null, d.class_name),
    h('td', null, d.iommu_group === null ? 'none' : String(d.iommu_group),
      (d.group_members || []).length ? h('div', { class: 'hint' }, 'with ', d.group_members.join(', ')) : null),
    h('td', { class: 'mono' }, d.driver || '–', d.driver_override ? h('div', { class: 'hint' }, `override ${d.driver_override}`) : null),
    h('td', null, (d.reset_methods || []).join(', ') || 'none'),
    h('td', null, d.needed_by_appliance ? h('span', { class: 'badge failed' }, 'appliance') : d.bridge ? 'bridge' : 'free',
      d.needed_by_appliance ? h('div', { class: 'hint' }, d.needed_by_appliance) : null)));
  box.append(h('p', { class: 'muted' }, 'Passing a function to a VM takes its whole IOMMU group from the host.'),
    rows.length ? table(['Address', 'Device', 'Class', 'IOMMU group', 'Driver', 'Reset', 'Use'], rows) : msg('info', 'No PCI functions.'));
  const mdevs = pci.mdev_types || [];
  if (mdevs.length) {
    const out = h('div', { 'aria-live': 'polite' });
    box.append(h('h2', null, 'Mediated device types'),
      h('p', { class: 'muted' }, 'An instance of a type is a device of its own (a slice of a GPU, say): a VM takes it by its UUID.'),
      out, table(['Parent', 'Type', 'Name', 'API', 'Free', 'Actions'], mdevs.map((m) => mdevRow(m, out))));
  }
}

// One mdev type with its "Create instance" button; what came of it goes to out.
function mdevRow(m, out) {
  const free = h('td', null, m.available_instances === null ? '–' : String(m.available_instances));
  const create = async (ev) => {
    out.replaceChildren();
    const r = await busy(ev.currentTarget, 'Creating…', () => api('POST', '/api/host/mdevs', { json: { parent: m.parent, type: m.type } }),
      out);
    if (!r) return;
    out.replaceChildren(msg('ok', `Instance ${r.uuid} of ${m.parent}/${m.type} is made. A VM takes it with its UUID in `,
      h('span', { class: 'mono' }, `"devices": ["${r.uuid}"]`), ' (kvmbox vmm --device UUID).'));
    if (typeof m.available_instances === 'number') free.textContent = String(Math.max(0, --m.available_instances));
  };
  return h('tr', { 'data-mdev': `${m.parent}/${m.type}` },
    h('td', { class: 'mono' }, m.parent), h('td', { class: 'mono' }, m.type), h('td', null, m.name || m.description || '–'),
    h('td', null, m.device_api || '–'), free,
    h('td', null, h('button', {
      type: 'button', 'aria-label': `Create an instance of ${m.type} on ${m.parent}`,
      disabled: m.available_instances === 0, onclick: create,
    }, 'Create instance')));
}

// ---------- settings ----------

async function viewSettings(box) {
  box.append(h('h1', null, 'Settings'));
  const [session, host] = await Promise.all([api('GET', '/api/auth/session'), api('GET', '/api/host').catch(() => null)]);

  box.append(h('h2', null, 'Session'), h('div', { class: 'card' }, kv([
    ['User', session.user], ['Signed in with', session.via === 'session' ? 'a password' : `API token ${session.token_id}`],
    session.expires_in_s !== undefined ? ['Ends', `in ${fmtDuration(session.expires_in_s)} at most, or after ${fmtDuration(session.idle_timeout_s)} unused`] : null,
  ])));

  box.append(networkSection(), certificateSection(host));

  // Password change: every session ends, this one too.
  const pErr = h('div');
  const cur = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const nw = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const nw2 = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const pBtn = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const pForm = h('form', { class: 'stack', id: 'password-form' }, field('Current password', cur), field('New password', nw, '8 characters or more. Every session ends; log in again.'),
    field('New password again', nw2), pErr, h('div', { class: 'actions' }, pBtn));
  pForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    pErr.replaceChildren();
    if (nw.value !== nw2.value) {
      pErr.replaceChildren(msg('err', 'The two new passwords differ.'));
      return;
    }
    await busy(pBtn, 'Changing…', async () => {
      await api('POST', '/api/auth/password', { json: { current: cur.value, new: nw.value } });
      S.user = S.csrf = null;
      go('#/login', 'ok', 'The password is changed. Log in with the new one.');
    }, pErr);
    cur.value = '';
  });
  box.append(h('h2', null, 'Password'), h('div', { class: 'card' }, pForm));

  // API tokens.
  const tList = h('div');
  const tErr = h('div');
  const tName = h('input', { required: true, maxlength: '63', placeholder: 'backup script' });
  const tBtn = h('button', { type: 'submit', class: 'primary' }, 'Make token');
  const tNew = h('div');
  const tForm = h('form', { class: 'stack' }, field('What the token is for', tName), tErr, h('div', { class: 'actions' }, tBtn), tNew);
  const drawTokens = async () => {
    const data = await api('GET', '/api/auth/tokens');
    const toks = data.tokens || [];
    tList.replaceChildren(toks.length ? table(['Name', 'ID', 'User', 'Made', 'Actions'], toks.map((t) => h('tr', null,
      h('td', null, t.name), h('td', { class: 'mono' }, t.id), h('td', null, t.user), h('td', null, fmtTime(t.created)),
      h('td', null, h('button', {
        type: 'button', class: 'danger', 'aria-label': `Revoke token ${t.name}`,
        onclick: async (ev) => {
          await busy(ev.currentTarget, 'Revoking…', async () => { await api('DELETE', `/api/auth/tokens/${enc(t.id)}`); notify('ok', `Token ${t.name} is revoked.`); });
          drawTokens().catch((e) => notify('err', e.message));
        },
      }, 'Revoke'))))) : msg('info', 'No API tokens.'));
  };
  tForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    tErr.replaceChildren();
    await busy(tBtn, 'Making…', async () => {
      const t = await api('POST', '/api/auth/tokens', { json: { name: tName.value } });
      const secret = h('input', { readonly: true, value: t.token, class: 'mono', id: 'token-secret' });
      const copy = h('button', {
        type: 'button',
        onclick: async () => {
          secret.select();
          try { await navigator.clipboard.writeText(t.token); } catch (x) { document.execCommand('copy'); }
          copy.textContent = 'Copied';
        },
      }, 'Copy');
      tNew.replaceChildren(msg('ok', `Token “${t.name}” is made. Copy it now: it is shown only this once.`),
        h('div', { class: 'field' }, h('label', { for: 'token-secret' }, 'The token'),
          h('div', { class: 'secret' }, secret, copy),
          h('div', { class: 'hint' }, 'Send it as “Authorization: Bearer TOKEN”.')));
      tName.value = '';
      await drawTokens();
      secret.focus();
      secret.select();
    }, tErr);
  });
  box.append(h('h2', null, 'API tokens'), tList, h('div', { class: 'card' }, tForm));
  await drawTokens();
}

// Network: what the host has now (GET /api/networks) and what it uses from
// the next boot (GET/PUT /api/settings).
function networkSection() {
  const sec = h('section', { 'aria-labelledby': 'network-h' }, h('h2', { id: 'network-h' }, 'Network'));
  const now = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Reading the interfaces…'));
  const out = h('div', { 'aria-live': 'polite', id: 'network-result' });
  const mode = h('select', { name: 'mode' }, h('option', { value: 'dhcp' }, 'DHCP (automatic)'), h('option', { value: 'static' }, 'Static address'));
  const addr = h('input', { name: 'address', placeholder: '192.168.1.10/24', spellcheck: 'false', autocomplete: 'off' });
  const gw = h('input', { name: 'gateway', placeholder: '192.168.1.1', spellcheck: 'false', autocomplete: 'off' });
  const dns1 = h('input', { name: 'dns1', placeholder: '192.168.1.1', spellcheck: 'false', autocomplete: 'off' });
  const dns2 = h('input', { name: 'dns2', spellcheck: 'false', autocomplete: 'off' });
  const host = h('input', { name: 'hostname', maxlength: '63', spellcheck: 'false', autocomplete: 'off' });
  const stat = h('fieldset', null, h('legend', null, 'Static address'),
    field('Address with prefix', addr, 'IPv4 with a prefix length, like 192.168.1.10/24.'),
    field('Gateway', gw, 'Optional; inside the address\'s subnet.'),
    h('div', { class: 'row' }, field('DNS server', dns1), field('Second DNS server', dns2)));
  const sync = () => { stat.hidden = mode.value !== 'static'; addr.required = mode.value === 'static'; };
  mode.addEventListener('change', sync);
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Save network settings');
  const form = h('form', { class: 'stack', id: 'network-form' },
    field('Address from', mode), stat, field('Host name', host, 'Letters, digits and “-”; at most 63.'),
    out, h('div', { class: 'actions' }, btn));
  const fill = (st) => {
    const n = (st && st.network) || { mode: 'dhcp' };
    mode.value = n.mode === 'static' ? 'static' : 'dhcp';
    addr.value = n.address || '';
    gw.value = n.gateway || '';
    dns1.value = (n.dns || [])[0] || '';
    dns2.value = (n.dns || [])[1] || '';
    host.value = (st && st.hostname) || '';
    sync();
  };
  sync();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    if (!form.reportValidity()) return;
    const network = { mode: mode.value };
    if (mode.value === 'static') {
      network.address = addr.value.trim();
      if (gw.value.trim()) network.gateway = gw.value.trim();
      const dns = [dns1.value.trim(), dns2.value.trim()].filter((x) => x);
      if (dns.length) network.dns = dns;
    }
    const body = { network };
    if (host.value.trim()) body.hostname = host.value.trim();
    const r = await busy(btn, 'Saving…', () => api('PUT', '/api/settings', { json: body }), out);
    if (!r) return;
    fill(r);
    out.replaceChildren(msg('ok', `The network settings are saved. They apply at the ${r.applies_at || 'next boot'}: ` +
      'the appliance keeps its current address until it restarts.'));
  });
  sec.append(h('h3', null, 'Now'), now, h('h3', null, 'From the next boot'), h('div', { class: 'card' }, form));

  api('GET', '/api/networks').then((n) => {
    const ifs = (n.interfaces || []).filter((i) => i.name !== 'lo');
    const rows = ifs.map((i) => h('tr', null,
      h('td', { class: 'mono' }, i.name, i.management ? h('div', { class: 'hint' }, 'management bridge') : null),
      h('td', null, `${i.state}${i.carrier ? '' : ', no link'}`),
      h('td', { class: 'mono' }, (i.addresses || []).map((a) => `${a.address}/${a.prefix}`).join(', ') || '–'),
      h('td', { class: 'mono' }, i.mac || '–'),
      h('td', null, i.bridge ? `bridge${(i.members || []).length ? ' of ' + i.members.join(', ') : ''}` : i.master ? `port of ${i.master}` : '–')));
    const r = n.default_route;
    now.replaceChildren(rows.length ? table(['Interface', 'State', 'Addresses', 'MAC', 'Bridge'], rows) : msg('info', 'No interfaces besides lo.'),
      kv([['Default route', r ? `${r.gateway || 'direct'} via ${r.interface}` : 'none'],
        ['DNS servers', (n.dns || []).join(', ') || 'none']]));
  }).catch((e) => now.replaceChildren(msg('err', `Cannot read the interfaces: ${e.message}`)));
  api('GET', '/api/settings').then(fill).catch((e) => out.replaceChildren(msg('err', `Cannot read the stored settings: ${e.message}`)));
  return sec;
}

// Certificate: the one served (GET /api/settings/certificate), a pair of your
// own (PUT), a new self-signed one (regenerate), or back to self-signed (DELETE).
function certificateSection(host) {
  const sec = h('section', { 'aria-labelledby': 'cert-h' }, h('h2', { id: 'cert-h' }, 'Certificate'));
  const fp = h('span', { class: 'mono', id: 'fingerprint' }, host && host.tls ? host.tls.sha256_fingerprint : '…');
  const info = h('div');
  const out = h('div', { 'aria-live': 'polite', id: 'cert-result' });
  const show = (c) => {
    fp.textContent = c.fingerprint;
    info.replaceChildren(kv([
      ['Source', c.source === 'self-signed' ? 'self-signed (made by the appliance)' : 'your own (uploaded)'],
      ['Subject', h('span', { class: 'mono' }, c.subject || '–')],
      ['Valid', `${c.not_before ? new Date(c.not_before).toLocaleString() : '?'} to ${c.not_after ? new Date(c.not_after).toLocaleString() : '?'}`],
      ['Names', (c.san || []).join(', ') || '–'],
    ]));
    info.querySelector('dd').id = 'cert-source';
    back.disabled = c.source !== 'user';
    back.title = c.source === 'user' ? '' : 'The self-signed certificate is served already.';
  };
  const done = (c, what) => {
    if (!c) return;
    show(c);
    out.replaceChildren(msg('ok', `${what} New connections get the certificate with fingerprint `, h('span', { class: 'mono' }, c.fingerprint), '.'));
  };
  // A PEM from a file picked, or pasted into the box.
  const pem = (label, name, hint) => {
    const ta = h('textarea', { name, rows: '5', spellcheck: 'false', class: 'mono', placeholder: '-----BEGIN …-----' });
    const file = h('input', { type: 'file', accept: '.pem,.crt,.cer,.key,text/plain' });
    file.addEventListener('change', async () => { if (file.files[0]) ta.value = await file.files[0].text(); });
    return [ta, [field(label, ta, hint), field(`${label} file`, file)]];
  };
  const [cert, certFields] = pem('Certificate chain (PEM)', 'cert', 'The server\'s certificate first, then any intermediates.');
  const [key, keyFields] = pem('Private key (PEM)', 'key', 'Its unencrypted ECDSA P-256 key.');
  cert.required = key.required = true;
  const up = h('button', { type: 'submit', class: 'primary' }, 'Upload certificate');
  const form = h('form', { class: 'stack', id: 'cert-form' }, certFields, keyFields, h('div', { class: 'actions' }, up));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    if (!form.reportValidity()) return;
    const c = await busy(up, 'Uploading…', () => api('PUT', '/api/settings/certificate', { json: { cert: cert.value, key: key.value } }), out);
    if (c) { key.value = ''; form.querySelectorAll('input[type=file]').forEach((f) => { f.value = ''; }); }
    done(c, 'Your certificate is served now.');
  });
  const regen = h('button', {
    type: 'button',
    onclick: async (ev) => {
      if (!confirm('Make a new self-signed certificate? Browsers will warn again, and the fingerprint changes.')) return;
      out.replaceChildren();
      done(await busy(ev.currentTarget, 'Regenerating…', () => api('POST', '/api/settings/certificate/regenerate'), out), 'A new self-signed certificate is made.');
    },
  }, 'Regenerate self-signed certificate');
  const back = h('button', {
    type: 'button', class: 'danger',
    onclick: async (ev) => {
      if (!confirm('Go back to the self-signed certificate? Your certificate is moved aside.')) return;
      out.replaceChildren();
      done(await busy(ev.currentTarget, 'Switching…', () => api('DELETE', '/api/settings/certificate'), out), 'The self-signed certificate is served again.');
    },
  }, 'Go back to self-signed');
  sec.append(h('div', { class: 'card' }, kv([['SHA-256 fingerprint', fp]]), info,
    h('p', { class: 'hint' }, 'The appliance\'s console shows the same fingerprint; if they differ, something is between you and it.'),
    out, h('div', { class: 'actions' }, regen, back)),
  h('h3', null, 'Use your own certificate'), h('div', { class: 'card' }, form));
  api('GET', '/api/settings/certificate').then(show).catch((e) => info.replaceChildren(msg('err', `Cannot read the certificate: ${e.message}`)));
  return sec;
}

// ---------- start ----------

async function boot() {
  document.getElementById('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', render);
  try {
    const s = await api('GET', '/api/auth/session', { quiet401: true });
    S.user = s.user; S.csrf = s.csrf; S.via = s.via;
  } catch (e) {
    if (e.status === 401 && /setup/.test(e.message) && location.hash !== '#/setup') {
      location.hash = '#/setup'; // hashchange renders it
      return;
    }
  }
  render();
}

boot();
