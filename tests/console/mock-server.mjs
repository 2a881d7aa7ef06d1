#!/usr/bin/env node
// A stand-in for partyd for work on the web console (console/): serves console/ with partyd's
// Content-Security-Policy, answers the admin endpoints the console uses with made-up but
// consistent JSON, and speaks a small part of the relay protocol on /ws/relay (handshake,
// set_game_state, leave) so that the dashboard's counters move. Everything lives in memory.
//
//   node tests/console/mock-server.mjs [--port 8090] [--bind 127.0.0.1] [--admin-token t]
//                                      [--port-file F]
//
// Takes partyd's flags of the same names (others are ignored), so console.test.mjs can start it
// in place of the binary (CONSOLE_MOCK=1). Then open http://127.0.0.1:8090/ and sign in with the
// token.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const CONSOLE_DIR = path.resolve(here, '../../console');

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const GAMES = ['relay', 'brainrot', 'quiz', 'alias', 'mafia'];
const ROLES = {
  relay: ['host', 'player', 'audience'],
  brainrot: ['master', 'play'],
  quiz: ['player'],
  alias: ['host', 'player'],
  mafia: ['player'],
};

function parseArgs(argv) {
  const opts = { port: 8090, bind: '127.0.0.1', token: 't', portFile: '', inactivityMs: 300000 };
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split('=', 2);
    const take = () => (value !== undefined ? value : argv[++i]);
    if (flag === '--port') opts.port = Number(take());
    else if (flag === '--bind') opts.bind = take();
    else if (flag === '--admin-token') opts.token = take();
    else if (flag === '--port-file') opts.portFile = take();
    else if (flag === '--room-inactivity-ms') opts.inactivityMs = Number(take());
    else if (flag.startsWith('--') && value === undefined && argv[i + 1] && !argv[i + 1].startsWith('--')) i++;
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const started = Date.now();
const counters = { messagesIn: 0, messagesOut: 0, inboxRejected: 0, slowConsumers: 0, rateLimited: 0 };
const rooms = new Map();
const sockets = new Set();
let nextConn = 1;

const token = (n) => randomBytes(n).toString('base64url').slice(0, n);
const CODE_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
function newCode() {
  for (;;) {
    let c = '';
    for (const b of randomBytes(6)) c += CODE_CHARS[b % CODE_CHARS.length];
    if (!rooms.has(c)) return c;
  }
}

function makeRoom(game, body = {}) {
  const code = body.roomCode || newCode();
  const now = Date.now();
  const room = {
    roomCode: code,
    game,
    hostKey: body.hostKey || token(32),
    password: body.password || '',
    maxPlayers: body.maxPlayers ?? 0,
    maxAudience: body.maxAudience ?? 0,
    createdAt: now,
    lastActivity: now,
    stateVersion: 1,
    gameState: {},
    seats: new Map(),
    conns: new Map(),
    inputs: [],
    inactivityDeadline: now + opts.inactivityMs,
  };
  rooms.set(code, room);
  return room;
}

function touch(room) {
  room.lastActivity = Date.now();
  room.inactivityDeadline = room.lastActivity + opts.inactivityMs;
}

function recordInput(room, kind, type, conn) {
  room.inputs.push({ time: Date.now(), kind, type, conn });
  if (room.inputs.length > 32) room.inputs.shift();
}

function send(ws, obj) {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(JSON.stringify(obj));
  counters.messagesOut++;
}

function closeRoom(room, reason) {
  rooms.delete(room.roomCode);
  for (const c of room.conns.values()) {
    send(c.ws, { type: 'room_closed', reason });
    c.ws.close(4000, reason);
  }
  room.conns.clear();
}

function roomState(room) {
  return {
    gameState: room.gameState,
    seats: [...room.seats.values()].map((s) => ({ clientId: s.clientId, meta: s.meta, connected: s.connected })),
    maxPlayers: room.maxPlayers,
    maxAudience: room.maxAudience,
    hasPassword: Boolean(room.password),
  };
}

function roleCounts(room) {
  const counts = Object.fromEntries(ROLES[room.game].map((r) => [r, 0]));
  for (const c of room.conns.values()) counts[c.role] = (counts[c.role] ?? 0) + 1;
  return counts;
}

function roomSummary(room) {
  return {
    roomCode: room.roomCode,
    game: room.game,
    createdAt: room.createdAt,
    lastActivity: room.lastActivity,
    stateVersion: room.stateVersion,
    seats: room.seats.size,
    connections: roleCounts(room),
  };
}

function stats() {
  const byGame = Object.fromEntries(GAMES.map((g) => [g, 0]));
  const conns = Object.fromEntries(GAMES.map((g) => [g, Object.fromEntries(ROLES[g].map((r) => [r, 0]))]));
  for (const room of rooms.values()) {
    byGame[room.game]++;
    for (const [role, n] of Object.entries(roleCounts(room))) conns[room.game][role] += n;
  }
  const base = 0.05 + rooms.size * 0.01;
  return {
    time: Date.now(),
    uptimeSeconds: Math.floor((Date.now() - started) / 1000),
    rooms: byGame,
    connections: conns,
    connectionsOpen: sockets.size,
    ...counters,
    stepLatencyMs: { p50: +(base + Math.random() * 0.02).toFixed(3), p99: +(base * 4 + Math.random() * 0.3).toFixed(3) },
    store: { target: 'memory', status: 'not_persisted', pendingSnapshots: 0, lastWriteAgoMs: null },
  };
}

function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const error = (res, status, code, message) =>
  json(res, status, { error: code, message }, status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});

async function serveFile(res, rel) {
  const file = path.resolve(CONSOLE_DIR, rel);
  if (!file.startsWith(CONSOLE_DIR + path.sep)) return error(res, 404, 'not_found', 'no such file');
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
      'Content-Length': body.length,
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    });
    res.end(body);
  } catch {
    error(res, 404, 'not_found', 'no such file');
  }
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

async function handleApi(req, res, url) {
  if (req.headers.authorization !== `Bearer ${opts.token}`) return error(res, 401, 'unauthorized', 'missing or wrong bearer token');
  const parts = url.pathname.split('/').filter(Boolean).slice(1); // after "api"
  const m = req.method;
  if (parts[0] === 'stats' && parts.length === 1 && m === 'GET') return json(res, 200, stats());
  if (parts[0] === 'stats' && parts[1] === 'stream' && m === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
    const push = () => res.write(`event: stats\ndata: ${JSON.stringify(stats())}\n\n`);
    push();
    const timer = setInterval(push, 1000);
    req.on('close', () => clearInterval(timer));
    return undefined;
  }
  if (parts[0] === 'games' && parts.length === 1 && m === 'GET') {
    return json(res, 200, { games: GAMES.map((name) => ({ name, wsPath: `/ws/${name}` })) });
  }
  if (parts[0] !== 'rooms') return error(res, 404, 'not_found', 'no such endpoint');
  if (parts.length === 1) {
    if (m === 'GET') {
      const list = [...rooms.values()].sort((a, b) => a.roomCode.localeCompare(b.roomCode)).map(roomSummary);
      return json(res, 200, { rooms: list, count: list.length });
    }
    if (m === 'POST') {
      let body = {};
      try {
        body = JSON.parse((await readBody(req)) || '{}');
      } catch {
        return error(res, 400, 'bad_request', 'the body is not JSON');
      }
      const game = body.game ?? 'relay';
      if (!GAMES.includes(game)) return error(res, 400, 'unknown_game', `no game ${game}`);
      if (body.roomCode && rooms.has(body.roomCode)) return error(res, 409, 'room_exists', 'a room has this code');
      const room = makeRoom(game, body);
      if (game !== 'relay') return json(res, 201, { code: room.roomCode, game, durable: false });
      return json(res, 201, {
        roomCode: room.roomCode, hostKey: room.hostKey, game, maxPlayers: room.maxPlayers,
        maxAudience: room.maxAudience, hasPassword: Boolean(room.password), durable: false,
      });
    }
    return error(res, 405, 'method_not_allowed', 'GET or POST');
  }
  const room = rooms.get(parts[1]);
  if (!room) return error(res, 404, 'room_not_found', 'no such room');
  if (parts.length === 2) {
    if (m === 'GET') return json(res, 200, roomSummary(room));
    if (m === 'DELETE') {
      recordInput(room, 'admin', 'close', null);
      closeRoom(room, 'closed_by_admin');
      return json(res, 200, { closed: true, roomCode: room.roomCode });
    }
    return error(res, 405, 'method_not_allowed', 'GET or DELETE');
  }
  if (parts[2] === 'inspect' && parts.length === 3 && m === 'GET') {
    return json(res, 200, {
      roomCode: room.roomCode,
      game: room.game,
      createdAt: room.createdAt,
      lastActivity: room.lastActivity,
      stateVersion: room.stateVersion,
      now: Date.now(),
      state: roomState(room),
      connections: [...room.conns.values()].map((c) => ({
        conn: c.id, role: c.role, bound: true, outboxBytes: 0,
        session: c.session ? { ...c.session } : null,
      })),
      timers: [{ name: 'inactivity', deadline: room.inactivityDeadline }],
      recentInputs: room.inputs.slice(),
    });
  }
  if (parts[2] === 'snapshot' && parts.length === 3 && m === 'GET') {
    return json(res, 200, { roomCode: room.roomCode, game: room.game, stateVersion: room.stateVersion, state: roomState(room) },
      { 'Content-Disposition': `attachment; filename="${room.roomCode}.json"` });
  }
  if (parts[2] === 'connections' && parts.length === 4 && m === 'DELETE') {
    const id = Number(parts[3]);
    const c = room.conns.get(id);
    if (!c) return error(res, 404, 'connection_not_found', 'no such connection in this room');
    recordInput(room, 'admin', 'disconnect', id);
    c.ws.close(4003, 'disconnected_by_admin');
    return json(res, 200, { disconnected: id });
  }
  return error(res, 404, 'not_found', 'no such endpoint');
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (url.pathname === '/' && req.method === 'GET') return await serveFile(res, 'index.html');
    if (url.pathname.startsWith('/console/') && req.method === 'GET') return await serveFile(res, decodeURIComponent(url.pathname.slice(9)));
    if (url.pathname === '/ready' || url.pathname === '/health') return json(res, 200, { ready: true, status: 'ok', store: 'memory' });
    if (url.pathname.startsWith('/api/')) return await handleApi(req, res, url);
    return error(res, 404, 'not_found', 'no such path');
  } catch (e) {
    return error(res, 500, 'internal', e.message);
  }
});

// The relay, in miniature.
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  const game = new URL(req.url, 'http://localhost').pathname.replace(/^\/ws\//, '');
  if (!GAMES.includes(game)) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, game));
});

function onSocket(ws, game) {
  sockets.add(ws);
  const conn = { id: nextConn++, ws, role: null, room: null, clientId: null, session: null };
  ws.on('close', () => {
    sockets.delete(ws);
    if (conn.room) {
      conn.room.conns.delete(conn.id);
      const seat = conn.room.seats.get(conn.clientId);
      if (seat) seat.connected = false;
    }
  });
  ws.on('message', (data) => {
    counters.messagesIn++;
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      send(ws, { type: 'error', code: 'bad_json', message: 'not JSON' });
      return;
    }
    if (game !== 'relay') {
      send(ws, { type: 'error', code: 'mock', message: 'the mock server speaks only the relay protocol' });
      return;
    }
    const room = conn.room;
    if (!room) {
      if (msg.type !== 'handshake') {
        send(ws, { type: 'error', code: 'not_joined', message: 'handshake first', requestType: msg.type });
        return;
      }
      const target = rooms.get(msg.roomCode);
      if (!target || target.game !== 'relay') {
        send(ws, { type: 'handshake_response', status: 'error', code: 'room_not_found', message: 'no such room' });
        return;
      }
      if (msg.role === 'host' && msg.hostKey !== target.hostKey) {
        send(ws, { type: 'handshake_response', status: 'error', code: 'wrong_host_key', message: 'wrong host key' });
        return;
      }
      if (msg.role === 'player' && target.password && msg.password !== target.password) {
        send(ws, { type: 'handshake_response', status: 'error', code: 'wrong_password', message: 'wrong room password' });
        return;
      }
      if (!['host', 'player', 'audience'].includes(msg.role)) {
        send(ws, { type: 'handshake_response', status: 'error', code: 'bad_request', message: 'bad role' });
        return;
      }
      conn.room = target;
      conn.role = msg.role;
      conn.clientId = `${msg.role[0]}_${token(24)}`;
      if (msg.version) conn.session = { sessionId: `sess_${token(20)}`, nextSeq: 1, away: false };
      if (msg.role === 'player') target.seats.set(conn.clientId, { clientId: conn.clientId, meta: msg.meta ?? null, connected: true });
      target.conns.set(conn.id, conn);
      touch(target);
      target.stateVersion++;
      recordInput(target, 'command', 'handshake', conn.id);
      send(ws, {
        type: 'handshake_response', status: 'success', roomCode: target.roomCode, role: msg.role,
        clientId: conn.clientId, ...(msg.role === 'player' ? { seatToken: token(24) } : {}), gameState: target.gameState,
      });
      return;
    }
    touch(room);
    recordInput(room, 'command', String(msg.type), conn.id);
    if (msg.type === 'set_game_state' && conn.role === 'host') {
      if (!msg.state || typeof msg.state !== 'object') {
        send(ws, { type: 'error', code: 'bad_request', message: "field 'state' must be an object", requestType: msg.type });
        return;
      }
      room.gameState = msg.state;
      room.stateVersion++;
      for (const c of room.conns.values()) if (c.role !== 'host') send(c.ws, { type: 'game_state', state: msg.state });
    } else if (msg.type === 'leave') {
      ws.close(1000, 'left');
    } else {
      send(ws, { type: 'error', code: 'unsupported', message: 'the mock relay does not do this', requestType: msg.type });
    }
  });
}

setInterval(() => {
  const now = Date.now();
  for (const room of rooms.values()) if (now >= room.inactivityDeadline) closeRoom(room, 'inactive');
}, 1000).unref();

server.listen(opts.port, opts.bind, async () => {
  const { port } = server.address();
  if (opts.portFile) await writeFile(opts.portFile, `${port}\n`);
  console.log(`mock partyd console server on http://${opts.bind}:${port}/ (admin token ${JSON.stringify(opts.token)})`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    for (const ws of sockets) ws.terminate();
    server.close();
    process.exit(0);
  });
}
