// The web console (console/) in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against the real partyd binary (PARTYD_BIN; `--store memory --admin-token t`
// on a free port of 127.0.0.1). With CONSOLE_MOCK=1 it runs against tests/console/mock-server.mjs
// instead, which is how the page is worked on without a build; with CONSOLE_DIR=console partyd
// serves the page from that directory rather than from the copy built into the binary.
//
// One page goes through the console as an operator would: a wrong token, then the right one; the
// dashboard under a small relay load; a room made through the API in the room list; its
// inspector (state, a timer counting down, a snapshot download); closing it from the page (its
// WebSocket clients are closed); the playground's relay handshake; signing out. Every console
// message and page error is collected and none may be an error (the one 401 of the wrong token
// excepted). Screenshots of each page go to $CONSOLE_SCREENSHOTS (default: ./screenshots).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOKEN = 't';
const CHROMIUM = process.env.CONSOLE_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(process.env.CONSOLE_SCREENSHOTS || path.join(here, 'screenshots'));
const MOCK = process.env.CONSOLE_MOCK === '1';
const STEP_TIMEOUT = 30000;

// ---------------------------------------------------------------------------------------------
// The server: partyd (or the mock) on a free port, as tests/socketio/harness.mjs starts it.

class Server {
  constructor() {
    this.output = '';
    this.port = 0;
    this.exitStatus = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(timeoutMs = 15000) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'partyd-console-'));
    const portFile = path.join(this.dir, 'port');
    const args = ['--port', '0', '--port-file', portFile, '--bind', '127.0.0.1', '--store', 'memory',
      '--admin-token', TOKEN, '--log-level', 'warn'];
    // CONSOLE_DIR: serve console/ from disk instead of the binary's built-in copy (a binary built
    // before the last edit of the page).
    if (process.env.CONSOLE_DIR && !MOCK) args.push('--console-dir', path.resolve(process.env.CONSOLE_DIR));
    let cmd;
    if (MOCK) {
      cmd = process.execPath;
      args.unshift(path.join(here, 'mock-server.mjs'));
    } else {
      cmd = process.env.PARTYD_BIN;
      if (!cmd) throw new Error('PARTYD_BIN is not set: point it at the built partyd binary (or set CONSOLE_MOCK=1)');
      if (!existsSync(cmd)) throw new Error(`PARTYD_BIN=${cmd} does not exist`);
    }
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PARTYD_')));
    this.child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk) => {
      this.output = (this.output + chunk.toString()).slice(-100000);
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitStatus = code ?? signal;
        resolve(this.exitStatus);
      });
      this.child.on('error', (err) => {
        this.output += `spawn error: ${err.message}\n`;
        this.exitStatus = -1;
        resolve(-1);
      });
    });
    const deadline = Date.now() + timeoutMs;
    while (!this.port) {
      if (this.exitStatus !== null) throw new Error(`the server exited (${this.exitStatus}) before listening:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no port file within ${timeoutMs} ms:\n${this.output}`);
      let content = '';
      try {
        content = readFileSync(portFile, 'utf8');
      } catch {
        // not yet
      }
      if (content.endsWith('\n')) this.port = Number.parseInt(content, 10);
      else await sleep(20);
    }
    for (;;) {
      try {
        const r = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) return this;
      } catch {
        // not yet
      }
      if (this.exitStatus !== null) throw new Error(`the server exited (${this.exitStatus}) while starting:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`GET /ready did not answer 200 within ${timeoutMs} ms:\n${this.output}`);
      await sleep(20);
    }
  }

  async stop() {
    if (this.child && this.exitStatus === null) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(t);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    return this.exitStatus;
  }

  async api(method, p, body) {
    const r = await fetch(this.url + p, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text };
  }

  async createRelayRoom() {
    const r = await this.api('POST', '/api/rooms', { game: 'relay' });
    assert.equal(r.status, 201, `POST /api/rooms: ${r.status} ${r.text}`);
    return r.json;
  }
}

// ---------------------------------------------------------------------------------------------
// A relay client from Node (the `ws` package): every frame it receives, and its close.

class RelayClient {
  constructor(server, name) {
    this.name = name;
    this.frames = [];
    this.waiters = new Set();
    this.closeEvent = null;
    this.ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/relay`);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      try {
        this.frames.push(JSON.parse(data.toString()));
      } catch {
        this.frames.push({ unparsed: data.toString() });
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeEvent = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closeEvent);
      });
    });
  }

  wake() {
    for (const w of [...this.waiters]) w();
  }

  send(obj) {
    this.ws.send(JSON.stringify(obj));
  }

  until(pred, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = pred();
        if (v) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 1500)} close: ${JSON.stringify(this.closeEvent)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  async handshake(msg) {
    await this.opened;
    this.send({ type: 'handshake', ...msg });
    const r = await this.until(() => this.frames.find((f) => f.type === 'handshake_response'), 5000, 'handshake_response');
    assert.equal(r.status, 'success', `${this.name}: handshake refused: ${JSON.stringify(r)}`);
    return r;
  }

  waitClosed(timeoutMs = 5000) {
    return this.until(() => this.closeEvent, timeoutMs, 'the socket to close');
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      // gone
    }
  }
}

// A host and `players` players in a new relay room.
async function populatedRoom(server, players, tag) {
  const room = await server.createRelayRoom();
  const host = new RelayClient(server, `${tag} host`);
  await host.handshake({ roomCode: room.roomCode, role: 'host', hostKey: room.hostKey });
  const list = [];
  for (let i = 0; i < players; i++) {
    const p = new RelayClient(server, `${tag} player ${i + 1}`);
    await p.handshake({ roomCode: room.roomCode, role: 'player', meta: { name: `P${i + 1}` } });
    list.push(p);
  }
  return { room, host, players: list, all: [host, ...list] };
}

// Resolves to fn()'s first truthy value, checked every 100 ms; fails after timeoutMs.
async function poll(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------

const server = new Server();
let browser;
let context;
let page;
let phase = 'start';
const consoleMessages = [];
const pageErrors = [];
const clients = [];
let load = null;

async function shot(name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const byTest = (name) => page.locator(`[data-test="${name}"]`);

before(async () => {
  await server.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  // CSP violations are also reported as console errors; this keeps their details.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (msg) => {
    consoleMessages.push({ phase, type: msg.type(), text: msg.text(), location: msg.location() });
  });
  page.on('pageerror', (err) => pageErrors.push({ phase, text: String(err?.stack || err) }));
});

after(async () => {
  load?.stop();
  for (const c of clients) c.close();
  await browser?.close();
  const status = await server.stop();
  if (!MOCK && status !== 0 && status !== null) {
    throw new Error(`partyd exited with status ${status} at the end:\n${server.output.slice(-3000)}`);
  }
});

test('sign-in: a wrong token is refused, the right one opens the dashboard', { timeout: STEP_TIMEOUT }, async () => {
  phase = 'load';
  const res = await page.goto(`${server.url}/`);
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'/, `the page's CSP: ${csp}`);
  await byTest('signin-form').waitFor({ state: 'visible' });

  phase = 'wrong-token';
  await byTest('signin-token').fill('not-the-token');
  await byTest('signin-submit').click();
  await byTest('signin-error').waitFor({ state: 'visible' });
  assert.match(await byTest('signin-error').textContent(), /wrong token/);
  assert.equal(await byTest('view-dashboard').isVisible(), false);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  phase = 'signed-in';
  await byTest('signin-token').fill(TOKEN);
  await byTest('signin-token').press('Enter');
  await byTest('view-dashboard').waitFor({ state: 'visible' });
  assert.equal(await byTest('signin-form').isVisible(), false);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('partyd.adminToken')), TOKEN);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  const url = new URL(page.url());
  assert.equal(url.search, '', `no query string: ${page.url()}`);
  assert.ok(!/token/i.test(url.hash), `the token is not in the URL: ${page.url()}`);
});

test('dashboard: the message rate moves under a relay load', { timeout: STEP_TIMEOUT + 15000 }, async () => {
  const rooms = [];
  for (let i = 0; i < 3; i++) rooms.push(await populatedRoom(server, 2, `load ${i + 1}`));
  for (const r of rooms) clients.push(...r.all);
  let n = 0;
  const timer = setInterval(() => {
    n++;
    for (const r of rooms) r.host.send({ type: 'set_game_state', state: { tick: n, load: true } });
  }, 200);
  load = { stop: () => clearInterval(timer) };

  await byTest('stream-status').filter({ hasText: 'live' }).waitFor();
  const rateIn = await poll(async () => {
    const v = Number(await byTest('rate-in').getAttribute('data-value'));
    return v > 0 ? v : 0;
  }, 15000, 'the dashboard\'s messages in/s above 0');
  const rateOut = await poll(async () => {
    const v = Number(await byTest('rate-out').getAttribute('data-value'));
    return v > 0 ? v : 0;
  }, 10000, 'the dashboard\'s messages out/s above 0');
  assert.ok(rateIn > 0 && rateOut > 0);
  assert.match(await byTest('rate-in').textContent(), /^\d[\d,.]*$/);
  await poll(async () => Number((await byTest('connections-open').textContent()).replace(/,/g, '')) >= 9, 5000, 'at least 9 connections open');
  await byTest('rooms-by-game-row').filter({ hasText: 'relay' }).waitFor();
  await byTest('connections-row').filter({ hasText: 'relay' }).waitFor();
  assert.notEqual((await byTest('store-status').textContent()).trim(), '–');
  // A few more points on the charts for the picture.
  await sleep(3000);
  assert.equal(await page.locator('#chart-messages canvas').count(), 1, 'the messages chart is drawn');
  await shot('dashboard');
  load.stop();
});

let inspected;

test('rooms: a room created through the API appears in the list', { timeout: STEP_TIMEOUT }, async () => {
  inspected = await populatedRoom(server, 1, 'inspected');
  clients.push(...inspected.all);
  const code = inspected.room.roomCode;
  inspected.host.send({ type: 'set_game_state', state: { consoleMarker: 'inspect-me', round: 1 } });
  await inspected.players[0].until(() => inspected.players[0].frames.find((f) => f.type === 'game_state'), 5000, 'game_state');

  await byTest('nav-rooms').click();
  await byTest('view-rooms').waitFor({ state: 'visible' });
  const row = page.locator(`[data-test="room-row"][data-code="${code}"]`);
  await row.waitFor({ state: 'visible', timeout: 10000 });
  assert.ok((await byTest('room-row').count()) >= 4);

  await byTest('rooms-search').fill(code.slice(0, 6));
  await poll(async () => (await byTest('room-row').count()) === 1, 3000, 'the search to leave one row');
  assert.equal(await row.count(), 1);
  await byTest('rooms-search').fill('');
  await byTest('rooms-game-filter').selectOption('relay');
  await poll(async () => (await byTest('room-row').count()) >= 4, 3000, 'the relay filter to keep the relay rooms');
  await byTest('sort-stateVersion').click();
  assert.equal(await page.locator('th[data-sort="stateVersion"]').getAttribute('aria-sort'), 'ascending');
  await byTest('sort-stateVersion').click();
  assert.equal(await page.locator('th[data-sort="stateVersion"]').getAttribute('aria-sort'), 'descending');
  await shot('rooms');
});

test('inspector: the room\'s state, connections and a timer counting down', { timeout: STEP_TIMEOUT }, async () => {
  const code = inspected.room.roomCode;
  await page.locator(`[data-test="room-row"][data-code="${code}"] [data-test="room-link"]`).click();
  await byTest('view-inspector').waitFor({ state: 'visible' });
  assert.match(await byTest('inspector-title').textContent(), new RegExp(code));
  await poll(async () => (await byTest('inspector-state').textContent()).includes('consoleMarker'), 8000, 'the state with the host\'s game state');
  const stateText = await byTest('inspector-state').textContent();
  assert.doesNotThrow(() => JSON.parse(stateText), 'the state is shown as JSON');
  await poll(async () => (await byTest('conn-row').count()) === 2, 5000, 'two connections (host and player)');
  await poll(async () => (await byTest('input-row').count()) >= 1, 5000, 'recent inputs');

  const remaining = byTest('timer-remaining').first();
  await remaining.waitFor();
  const readTimer = async () => ({
    ms: Number(await remaining.getAttribute('data-remaining-ms')),
    text: (await remaining.textContent()).trim(),
  });
  const first = await poll(async () => {
    const v = await readTimer();
    return Number.isFinite(v.ms) && v.text ? v : null;
  }, 3000, 'a timer\'s remaining time');
  const readAt = Date.now();
  await sleep(1200);
  const second = await readTimer();
  const elapsed = Date.now() - readAt;
  assert.ok(second.ms < first.ms, `the timer counts down: ${JSON.stringify(first)} then ${JSON.stringify(second)}`);
  assert.notEqual(second.text, first.text);
  // Shown every 250 ms from the server's deadline: the decrease follows the wall clock.
  const fell = first.ms - second.ms;
  assert.ok(fell >= 600 && fell <= elapsed + 1500, `${fell} ms less after ${elapsed} ms: ${first.ms} -> ${second.ms}`);
  await shot('inspector');

  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), byTest('inspector-snapshot').click()]);
  assert.match(download.suggestedFilename(), /\.json$/);
  const file = await download.path();
  assert.doesNotThrow(() => JSON.parse(readFileSync(file, 'utf8')), 'the snapshot is JSON');
});

test('inspector: closing the room from the page closes its clients\' sockets', { timeout: STEP_TIMEOUT }, async () => {
  const code = inspected.room.roomCode;
  await byTest('inspector-close').click();
  await byTest('inspector-confirm').waitFor({ state: 'visible' });
  // Nothing happens before the confirmation.
  await sleep(300);
  assert.equal((await server.api('GET', `/api/rooms/${code}`)).status, 200);
  await byTest('inspector-confirm-yes').click();
  const closes = await Promise.all(inspected.all.map((c) => c.waitClosed(5000)));
  assert.equal(closes.length, 2);
  for (const c of inspected.all) {
    assert.ok(c.frames.some((f) => f.type === 'room_closed'), `${c.name} got room_closed: ${JSON.stringify(c.frames.slice(-3))}`);
  }
  await byTest('view-rooms').waitFor({ state: 'visible' });
  await poll(async () => (await page.locator(`[data-test="room-row"][data-code="${code}"]`).count()) === 0, 8000, 'the closed room to leave the list');
  assert.equal((await server.api('GET', `/api/rooms/${code}`)).status, 404);
});

test('playground: a relay handshake from the page', { timeout: STEP_TIMEOUT }, async () => {
  const room = await server.createRelayRoom();
  await byTest('nav-playground').click();
  await byTest('view-playground').waitFor({ state: 'visible' });
  await byTest('pg-game').selectOption('relay');
  assert.equal(await byTest('pg-path').inputValue(), '/ws/relay');
  await byTest('pg-template').selectOption({ label: 'handshake (player)' });
  assert.match(await byTest('pg-message').inputValue(), /"handshake"/);

  await byTest('pg-connect').click();
  await page.locator('[data-test="pg-status"][data-state="open"]').waitFor({ timeout: 5000 });
  await byTest('pg-message').fill(JSON.stringify({ type: 'handshake', roomCode: room.roomCode, role: 'player', meta: { name: 'Console' } }));
  await byTest('pg-send').click();
  await page.locator('[data-test="pg-log-entry"][data-dir="out"]').filter({ hasText: room.roomCode }).waitFor();
  const reply = page.locator('[data-test="pg-log-entry"][data-dir="in"]').filter({ hasText: 'handshake_response' });
  await reply.waitFor({ timeout: 5000 });
  assert.match(await reply.first().textContent(), /"status":\s*"success"/);

  // Not JSON: refused on the page, nothing sent.
  const sent = await page.locator('[data-test="pg-log-entry"][data-dir="out"]').count();
  await byTest('pg-message').fill('{not json');
  await byTest('pg-message').press('Control+Enter');
  await byTest('pg-error').waitFor({ state: 'visible' });
  assert.equal(await page.locator('[data-test="pg-log-entry"][data-dir="out"]').count(), sent);
  await shot('playground');

  await byTest('pg-close').click();
  await page.locator('[data-test="pg-status"][data-state="closed"]').waitFor({ timeout: 5000 });
  await page.locator('[data-test="pg-log-entry"][data-dir="event"]').filter({ hasText: 'closed: code 1000' }).waitFor();
});

test('sign-out: back to the form, the token forgotten', { timeout: STEP_TIMEOUT }, async () => {
  await byTest('sign-out').click();
  await byTest('signin-form').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('partyd.adminToken')), null);
  await page.reload();
  await byTest('signin-form').waitFor({ state: 'visible' });
  assert.equal(await byTest('view-dashboard').isVisible(), false);
});

test('no console errors, page errors or CSP violations', async () => {
  const csp = await page.evaluate(() => window.__cspViolations);
  assert.deepEqual(csp, [], `CSP violations: ${JSON.stringify(csp)}`);
  assert.deepEqual(pageErrors, [], `page errors: ${JSON.stringify(pageErrors, null, 1)}`);
  // The wrong token's sign-in request answered 401, which Chromium reports as a failed resource.
  const expected = (m) => m.phase === 'wrong-token' && /status of 401/.test(m.text);
  const errors = consoleMessages.filter((m) => m.type === 'error' && !expected(m));
  assert.deepEqual(errors, [], `console errors: ${JSON.stringify(errors, null, 1)}`);
  if (process.env.CONSOLE_DEBUG) console.log(JSON.stringify(consoleMessages));
  const warnings = consoleMessages.filter((m) => m.type === 'warning');
  if (warnings.length) console.log(`console warnings (not failures): ${JSON.stringify(warnings)}`);
});
