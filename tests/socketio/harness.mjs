// Shared support of the Socket.IO client tests (docs/protocol/socketio.md): starts the real partyd
// binary (PARTYD_BIN) on 127.0.0.1 with a free port, as tests/support/test_server.cpp does
// (--port 0 and --port-file, then GET /ready = 200), records what each socket.io-client socket
// receives, and offers bounded waits, plain HTTP requests and the admin API. Every wait has a
// timeout; every server started is stopped when its test file ends.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { io } from 'socket.io-client';

export { io, sleep };

export const ADMIN_TOKEN = 't';
export const TEST_TIMEOUT_MS = 30000;

function binaryPath() {
  const bin = process.env.PARTYD_BIN;
  if (!bin) throw new Error('PARTYD_BIN is not set: point it at the built partyd binary');
  if (!existsSync(bin)) throw new Error(`PARTYD_BIN=${bin} does not exist`);
  return bin;
}

// Sets `flag value` pairs of `defaults` unless `extra` names the flag itself.
function withDefaults(defaults, extra) {
  const named = new Set(extra.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]));
  const args = [];
  for (const [flag, value] of defaults) {
    if (!named.has(flag)) args.push(flag, value);
  }
  return args.concat(extra);
}

// One partyd process. `start()` resolves once GET /ready answered 200.
export class PartydServer {
  constructor(extraArgs = []) {
    this.extraArgs = extraArgs;
    this.output = '';
    this.port = 0;
    this.exitStatus = null;
    this.stopping = false;
    this.clients = [];
  }

  // A socket.io-client socket on its own connection (forceNew), recorded; disconnected by
  // closeClients() and stop().
  client(options = {}, namespace = '') {
    const socket = io(this.url + namespace, { forceNew: true, ...options });
    this.track(socket);
    return new Recorder(socket);
  }

  // Makes closeClients() and stop() disconnect `socket` (made without client()).
  track(socket) {
    this.clients.push(socket);
    return socket;
  }

  closeClients() {
    for (const s of this.clients.splice(0)) {
      try {
        s.disconnect();
        s.io.engine?.close();
      } catch {
        // already gone
      }
    }
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(timeoutMs = 10000) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'partyd-sio-'));
    this.portFile = path.join(this.dir, 'port');
    const args = withDefaults(
      [
        ['--port', '0'],
        ['--port-file', this.portFile],
        ['--bind', '127.0.0.1'],
        ['--store', 'memory'],
        ['--admin-token', ADMIN_TOKEN],
        ['--log-level', 'warn'],
      ],
      this.extraArgs,
    );
    // Like the C++ fixture: the child gets no PARTYD_* settings of ours, the test sets every flag.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('PARTYD_')),
    );
    this.child = spawn(binaryPath(), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk) => {
      this.output += chunk.toString();
      if (this.output.length > 200000) this.output = this.output.slice(-100000);
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitStatus = code !== null ? code : 128 + (signalNumber(signal) ?? 0);
        resolve(this.exitStatus);
      });
      this.child.on('error', (err) => {
        this.output += `spawn error: ${err.message}\n`;
        this.exitStatus = -1;
        resolve(-1);
      });
    });

    const deadline = Date.now() + timeoutMs;
    // 1. The port file: written once the listener is bound; a complete file ends with '\n'.
    while (this.port === 0) {
      if (this.exitStatus !== null) {
        throw new Error(`partyd exited with status ${this.exitStatus} before listening:\n${this.output}`);
      }
      let content = '';
      try {
        content = readFileSync(this.portFile, 'utf8');
      } catch {
        // not written yet
      }
      if (content.endsWith('\n')) {
        const port = Number.parseInt(content, 10);
        if (!(port > 0 && port < 65536)) throw new Error(`bad port file content: ${content}`);
        this.port = port;
        break;
      }
      if (Date.now() >= deadline) {
        await this.stop();
        throw new Error(`partyd wrote no port file within ${timeoutMs} ms:\n${this.output}`);
      }
      await sleep(10);
    }
    // 2. GET /ready = 200.
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        await this.stop();
        throw new Error(`partyd did not answer GET /ready with 200 within ${timeoutMs} ms:\n${this.output}`);
      }
      const ready = await httpRequest(this.port, 'GET', '/ready', { timeoutMs: Math.min(left, 2000) });
      if (ready.status === 200) return this;
      if (this.exitStatus !== null) {
        throw new Error(`partyd exited with status ${this.exitStatus} while starting:\n${this.output}`);
      }
      await sleep(10);
    }
  }

  // SIGTERM, then SIGKILL after `timeoutMs`. Resolves to the exit status.
  async stop(timeoutMs = 10000) {
    this.closeClients();
    if (!this.child) return null;
    this.stopping = true;
    if (this.exitStatus === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    return this.exitStatus;
  }

  // The last `chars` characters of the server's output.
  logTail(chars = 4000) {
    return this.output.slice(-chars);
  }

  http(method, pathAndQuery, options = {}) {
    return httpRequest(this.port, method, pathAndQuery, options);
  }

  // POST /api/rooms with the admin token; returns {status, json, body}.
  async createRoom(body) {
    const r = await this.http('POST', '/api/rooms', {
      body: JSON.stringify(body),
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    });
    return { ...r, json: parseJson(r.body) };
  }

  async metrics() {
    return (await this.http('GET', '/metrics')).body;
  }
}

function signalNumber(name) {
  const numbers = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };
  return numbers[name];
}

export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// One HTTP/1.1 request on its own connection (no keep-alive agent), bounded by `timeoutMs`.
// Resolves to {status, headers, body}; status 0 when there was no answer (body says why).
export function httpRequest(port, method, pathAndQuery, { body, headers = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = http.request(
      { host: '127.0.0.1', port, method, path: pathAndQuery, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          finish({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) => finish({ status: 0, headers: {}, body: `response error: ${err.message}` }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish({ status: 0, headers: {}, body: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on('error', (err) => finish({ status: 0, headers: {}, body: `request error: ${err.message}` }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Registers before/after hooks of the current test file: one server with `args`, and every client
// made through it disconnected after each test. Returns the handle (its server exists from
// `before` on).
export function useServer(args = []) {
  const handle = new ServerHandle(args);
  before(async () => {
    await handle.start();
  });
  afterEach(() => handle.closeClients());
  after(async () => {
    handle.closeClients();
    const status = await handle.server?.stop();
    // A clean SIGTERM stop is exit 0; anything else (a crash during the tests) fails the file.
    if (status !== 0 && status !== null) {
      throw new Error(`partyd exited with status ${status} at the end:\n${handle.server.logTail()}`);
    }
  });
  return handle;
}

class ServerHandle {
  constructor(args) {
    this.args = args;
  }
  async start() {
    this.server = await new PartydServer(this.args).start();
  }
  get port() {
    return this.server.port;
  }
  get url() {
    return this.server.url;
  }
  client(options = {}, namespace = '') {
    return this.server.client(options, namespace);
  }
  track(socket) {
    return this.server.track(socket);
  }
  closeClients() {
    this.server?.closeClients();
  }
  http(method, pathAndQuery, options) {
    return this.server.http(method, pathAndQuery, options);
  }
  createRoom(body) {
    return this.server.createRoom(body);
  }
}

// Wraps a test body so that its failure also shows the tail of the server's log.
export function withLog(handleOrServer, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const server = handleOrServer.server ?? handleOrServer;
      if (server?.logTail && err && typeof err === 'object') {
        const tail = server.logTail(3000);
        if (tail) err.message += `\n---- partyd log (tail) ----\n${tail}---- end of partyd log ----`;
      }
      throw err;
    }
  };
}

// Every event a socket receives, in order, with the transport it arrived on; waits for events.
// `next(name)` returns the next event of that name not yet returned by `next(name)` (each name has
// its own cursor), so a test reads each kind of event in order without losing any.
export class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.events = [];
    this.cursors = new Map();
    this.waiters = new Set();
    this.connects = 0;
    this.disconnects = [];
    this.connectErrors = [];
    socket.onAny((event, ...args) => {
      this.events.push({ event, args, transport: socket.io.engine?.transport?.name, connection: this.connects, at: Date.now() });
      this.wake();
    });
    socket.on('connect', () => {
      this.connects += 1;
      this.wake();
    });
    socket.on('disconnect', (reason) => {
      this.disconnects.push(reason);
      this.wake();
    });
    socket.on('connect_error', (err) => {
      this.connectErrors.push(err);
      this.wake();
    });
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args);
  }

  // The answer of an emit with an ack callback, bounded.
  // `arg` left out (undefined) sends no argument at all.
  emitWithAck(event, arg, timeoutMs = 5000) {
    const args = arg === undefined ? [] : [arg];
    return this.socket.timeout(timeoutMs).emitWithAck(event, ...args);
  }

  wake() {
    for (const w of [...this.waiters]) w();
  }

  // Resolves when `condition()` returns a truthy value (that value), rejects after `timeoutMs`.
  // Checked on every event of the socket and every 20 ms (for state outside the events, such as
  // the transport's name).
  until(condition, timeoutMs = 5000, what = 'a condition') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let value;
        try {
          value = condition();
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (value) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${this.describe()}`));
      }, timeoutMs);
      const ticker = setInterval(check, 20);
      const cleanup = () => {
        clearTimeout(timer);
        clearInterval(ticker);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  // The next `event` (after the last one `next(event)` returned) that satisfies `where`.
  next(event, { timeoutMs = 5000, where = () => true } = {}) {
    return this.until(
      () => {
        let from = this.cursors.get(event) ?? 0;
        for (; from < this.events.length; from++) {
          const e = this.events[from];
          if (e.event === event && where(...e.args)) {
            this.cursors.set(event, from + 1);
            return e;
          }
        }
        return undefined;
      },
      timeoutMs,
      `event '${event}'`,
    );
  }

  // The first argument of the next `event`.
  async arg(event, options) {
    return (await this.next(event, options)).args[0];
  }

  waitConnected(count = 1, timeoutMs = 5000) {
    return this.until(() => this.connects >= count, timeoutMs, `connect #${count}`);
  }

  waitDisconnected(count = 1, timeoutMs = 5000) {
    return this.until(() => this.disconnects.length >= count && this.disconnects[count - 1], timeoutMs, `disconnect #${count}`);
  }

  waitConnectError(timeoutMs = 5000) {
    return this.until(() => this.connectErrors[0], timeoutMs, 'connect_error');
  }

  all(event) {
    return this.events.filter((e) => e.event === event);
  }

  describe() {
    const list = this.events.map((e) => `${e.event} ${JSON.stringify(e.args)}`.slice(0, 300));
    return `[${list.join(', ')}] connects=${this.connects} disconnects=${JSON.stringify(this.disconnects)}`;
  }

  close() {
    this.socket.disconnect();
  }
}

// Fails when `recorder` received any `event` within `ms` (default 300 ms) of now.
export async function expectNone(recorder, event, ms = 300, where = () => true) {
  const before = recorder.all(event).length;
  await sleep(ms);
  const got = recorder.all(event).slice(before).filter((e) => where(...e.args));
  if (got.length) {
    throw new Error(`unexpected '${event}': ${JSON.stringify(got.map((e) => e.args))}`);
  }
}

// The Engine.IO polling handshake over plain HTTP: {status, body, open} (open: the parsed open
// packet) for `query` appended to the EIO=4 polling query.
export async function pollingHandshake(port, query = '', headers = {}) {
  const r = await httpRequest(port, 'GET', `/socket.io/?EIO=4&transport=polling${query}`, { headers });
  const open = r.status === 200 && r.body.startsWith('0') ? parseJson(r.body.slice(1)) : undefined;
  return { ...r, open };
}
