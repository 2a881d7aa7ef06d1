// Engine.IO 4 over plain HTTP and the limits and errors of docs/protocol/socketio.md: the open
// packet, a polling session by hand, the HTTP 400 error codes, a second held GET, maxPayload,
// POST after the upgrade, CORS and the Origin allow-list, an unknown namespace, binary emits,
// the rate limit through socket.io-client, and the partyd_socketio_ series of /metrics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  PartydServer, TEST_TIMEOUT_MS, expectNone, httpRequest, parseJson, pollingHandshake, sleep, useServer, withLog,
} from './harness.mjs';

const server = useServer();
const it = (name, fn) => test(name, { timeout: TEST_TIMEOUT_MS }, withLog(server, fn));
const RS = '\x1e'; // Engine.IO's record separator between packets of one polling body

const polling = (sid) => `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;

// A new polling session: its sid.
async function openSession(query = '') {
  const r = await pollingHandshake(server.port, query);
  assert.equal(r.status, 200, `handshake: ${r.status} ${r.body}`);
  assert.ok(r.open, `open packet: ${r.body}`);
  return r.open.sid;
}

// GETs until `done(packets)` holds (packets: every packet so far), at most `tries` GETs.
async function pollUntil(sid, done, tries = 4) {
  const packets = [];
  for (let i = 0; i < tries && !done(packets); i++) {
    const r = await httpRequest(server.port, 'GET', polling(sid), { timeoutMs: 8000 });
    assert.equal(r.status, 200, `GET: ${r.status} ${r.body}`);
    packets.push(...r.body.split(RS));
  }
  return packets;
}

function post(sid, body, headers = {}) {
  return httpRequest(server.port, 'POST', polling(sid), {
    body, headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers },
  });
}

// An Engine.IO error answer: HTTP 400 with {code, message}.
function assertEioError(r, code, message) {
  assert.equal(r.status, 400, `${r.status} ${r.body}`);
  const body = parseJson(r.body);
  assert.ok(body, `not JSON: ${r.body}`);
  assert.equal(body.code, code, r.body);
  assert.equal(body.message, message, r.body);
  return body;
}

async function relayRoom(target = server, options = {}) {
  const r = await target.createRoom({ game: 'relay', ...options });
  assert.equal(r.status, 201, `POST /api/rooms: ${r.status} ${r.body}`);
  return r.json;
}

async function relayHost(target, room) {
  const h = target.client({ transports: ['websocket'] });
  h.emit('handshake', { roomCode: room.roomCode, role: 'host', hostKey: room.hostKey });
  assert.equal((await h.arg('handshake_response')).status, 'success');
  return h;
}

describe('Engine.IO over plain HTTP', () => {
  it('the handshake GET answers the open packet', async () => {
    const r = await pollingHandshake(server.port);
    assert.equal(r.status, 200, r.body);
    assert.ok(r.body.startsWith('0{'), r.body);
    assert.match(r.open.sid, /^.{20}$/);
    assert.deepEqual(
      { upgrades: r.open.upgrades, pingInterval: r.open.pingInterval, pingTimeout: r.open.pingTimeout, maxPayload: r.open.maxPayload },
      { upgrades: ['websocket'], pingInterval: 10000, pingTimeout: 20000, maxPayload: 100000 },
    );
    const other = await pollingHandshake(server.port);
    assert.notEqual(other.open.sid, r.open.sid);
  });

  it('a polling session by hand: CONNECT and events joined by the record separator both ways, a held GET answered', async () => {
    const room = await relayRoom();
    const host = await relayHost(server, room);
    // CONNECT and the relay handshake in one POST body.
    const sid = await openSession();
    const hello = `42${JSON.stringify(['handshake', { roomCode: room.roomCode, role: 'player', meta: { via: 'raw' } }])}`;
    const sent = await post(sid, `40${RS}${hello}`);
    assert.equal(sent.status, 200, sent.body);
    assert.equal(sent.body, 'ok');
    const packets = await pollUntil(sid, (ps) => ps.some((p) => p.startsWith('42')));
    assert.match(packets[0], /^40\{"sid":"[^"]+"/, JSON.stringify(packets));
    const event = packets.find((p) => p.startsWith('42'));
    const [name, arg, ...rest] = JSON.parse(event.slice(2));
    assert.equal(name, 'handshake_response');
    assert.equal(arg.status, 'success', event);
    assert.equal(arg.role, 'player');
    assert.deepEqual(rest, []);
    assert.deepEqual(await host.arg('client_joined'), { clientId: arg.clientId, role: 'player', meta: { via: 'raw' }, reconnected: false });
    // Two events in one POST reach the host in order.
    const two = [1, 2].map((n) => `42${JSON.stringify(['message_to_host', { message: n }])}`).join(RS);
    assert.equal((await post(sid, two)).body, 'ok');
    assert.deepEqual((await host.next('client_message')).args[0].message, 1);
    assert.deepEqual((await host.next('client_message')).args[0].message, 2);
    // A held GET is answered as soon as a packet waits for it.
    const held = httpRequest(server.port, 'GET', polling(sid), { timeoutMs: 8000 });
    await sleep(200);
    host.emit('set_game_state', { state: { held: true } });
    const answer = await held;
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(JSON.parse(answer.body.split(RS)[0].slice(2)), ['game_state', { state: { held: true } }]);
  });

  it('a refused first message over polling, with a GET held: the handshake_response error, then the DISCONNECT packet', async () => {
    const sid = await openSession();
    assert.equal((await post(sid, '40')).body, 'ok');
    assert.match((await pollUntil(sid, (ps) => ps.length > 0))[0], /^40\{"sid":/);
    const held = httpRequest(server.port, 'GET', polling(sid), { timeoutMs: 8000 });
    await sleep(200);
    const wrong = `42${JSON.stringify(['handshake', { roomCode: 'NOSUCHROOM', role: 'audience' }])}`;
    assert.equal((await post(sid, wrong)).body, 'ok');
    const first = await held;
    assert.equal(first.status, 200, `held GET: ${first.status} ${first.body}`);
    const refused = first.body.split(RS);
    if (!refused.includes('41')) refused.push(...(await pollUntil(sid, (ps) => ps.includes('41'))));
    const refusal = refused.find((p) => p.startsWith('42'));
    assert.ok(refusal, JSON.stringify(refused));
    const [name, arg] = JSON.parse(refusal.slice(2));
    assert.equal(name, 'handshake_response');
    assert.equal(arg.status, 'error');
    assert.equal(arg.code, 'room_not_found');
    assert.ok(refused.indexOf('41') > refused.indexOf(refusal), JSON.stringify(refused));
  });

  it('a refused first message over polling, no GET held: the next GET still gets the error and the DISCONNECT packet', async () => {
    // "GET returns the packets waiting": what the refusal sent waits for the next GET.
    const sid2 = await openSession();
    assert.equal((await post(sid2, '40')).body, 'ok');
    assert.match((await pollUntil(sid2, (ps) => ps.length > 0))[0], /^40\{"sid":/);
    const wrong = `42${JSON.stringify(['handshake', { roomCode: 'NOSUCHROOM', role: 'audience' }])}`;
    assert.equal((await post(sid2, wrong)).body, 'ok');
    const refused = await pollUntil(sid2, (ps) => ps.includes('41'));
    const refusal = refused.find((p) => p.startsWith('42'));
    assert.ok(refusal, JSON.stringify(refused));
    const [rname, rarg] = JSON.parse(refusal.slice(2));
    assert.equal(rname, 'handshake_response');
    assert.equal(rarg.status, 'error');
    assert.equal(rarg.code, 'room_not_found');
    assert.ok(refused.indexOf('41') > refused.indexOf(refusal), JSON.stringify(refused));
  });

  it('HTTP 400 errors: unknown sid (1), unknown transport (0), bad handshake method (2), unknown game (3), EIO=3 (5)', async () => {
    assertEioError(await httpRequest(server.port, 'GET', polling('AAAAAAAAAAAAAAAAAAAA')), 1, 'Session ID unknown');
    assertEioError(await post('AAAAAAAAAAAAAAAAAAAA', '40'), 1, 'Session ID unknown');
    assertEioError(await httpRequest(server.port, 'GET', '/socket.io/?EIO=4&transport=carrier-pigeon'), 0, 'Transport unknown');
    assertEioError(await httpRequest(server.port, 'POST', '/socket.io/?EIO=4&transport=polling', { body: '40' }), 2, 'Bad handshake method');
    const game = assertEioError(await httpRequest(server.port, 'GET', '/socket.io/?EIO=4&transport=polling&game=chess'), 3, 'Bad request');
    assert.equal(game.error, 'unknown_game');
    assertEioError(await httpRequest(server.port, 'GET', '/socket.io/?EIO=3&transport=polling'), 5, 'Unsupported protocol version');
    // The games that accept Socket.IO are accepted by name.
    for (const name of ['relay', 'mafia']) {
      const ok = await pollingHandshake(server.port, `&game=${name}`);
      assert.equal(ok.status, 200, `${name}: ${ok.body}`);
    }
  });

  it('a second GET while one is held: 400 code 3, and the session is closed', async () => {
    const sid = await openSession();
    const first = httpRequest(server.port, 'GET', polling(sid), { timeoutMs: 8000 });
    await sleep(300); // the first GET is held: nothing waits for it
    assertEioError(await httpRequest(server.port, 'GET', polling(sid)), 3, 'Bad request');
    const ended = await first;
    assert.notEqual(ended.status, 0, 'the held GET ends with the session, not at the next ping');
    assertEioError(await httpRequest(server.port, 'GET', polling(sid)), 1, 'Session ID unknown');
  });

  it('a POST body over maxPayload: 413, and the session is closed', async () => {
    const sid = await openSession();
    assert.equal((await post(sid, '40')).body, 'ok');
    const big = `42${JSON.stringify(['message_to_host', { message: 'x'.repeat(100000) }])}`;
    assert.ok(big.length > 100000);
    const r = await post(sid, big);
    assert.equal(r.status, 413, `${r.status} ${r.body}`);
    // The next GETs take the session's last packets: what waited, the DISCONNECT, then the close
    // packet alone; then it is gone.
    const bodies = [];
    for (let i = 0; i < 3; i++) {
      const g = await httpRequest(server.port, 'GET', polling(sid), { timeoutMs: 5000 });
      assert.equal(g.status, 200, `${g.status} ${g.body}`);
      bodies.push(g.body);
      if (g.body === '1') break;
    }
    assert.equal(bodies.at(-1), '1', JSON.stringify(bodies));
    assert.ok(bodies.join('\x1e').split('\x1e').includes('41'), JSON.stringify(bodies));
    assertEioError(await httpRequest(server.port, 'GET', polling(sid)), 1, 'Session ID unknown');
  });

  it('a POST on a session upgraded to WebSocket: 400 code 3', async () => {
    const c = server.client(); // default transports: polling, then the upgrade
    const engine = c.socket.io.engine;
    await c.until(() => engine.transport?.name === 'websocket', 5000, 'the upgrade');
    const r = await post(engine.id, '42["message_to_host",{"message":1}]');
    assertEioError(r, 3, 'Bad request');
  });

  it('CORS: an allowed Origin is echoed with credentials; OPTIONS preflights get 204', async () => {
    const origin = 'http://party.example.com';
    const r = await pollingHandshake(server.port, '', { Origin: origin });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['access-control-allow-origin'], origin);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    const pre = await httpRequest(server.port, 'OPTIONS', '/socket.io/?EIO=4&transport=polling', {
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204, `${pre.status} ${pre.body}`);
    assert.equal(pre.headers['access-control-allow-origin'], origin);
  });

  it('an Origin outside --allowed-origins: 403 code 4; a listed one is served', async () => {
    const own = await new PartydServer(['--allowed-origins', 'http://good.example']).start();
    try {
      const bad = await pollingHandshake(own.port, '', { Origin: 'http://evil.example' });
      assert.equal(bad.status, 403, `${bad.status} ${bad.body}`);
      assert.deepEqual(parseJson(bad.body), { code: 4, message: 'Forbidden' });
      const good = await pollingHandshake(own.port, '', { Origin: 'http://good.example' });
      assert.equal(good.status, 200, good.body);
      assert.equal(good.headers['access-control-allow-origin'], 'http://good.example');
      const none = await pollingHandshake(own.port);
      assert.equal(none.status, 200, 'no Origin header: not a browser, accepted');
    } finally {
      assert.equal(await own.stop(), 0, own.logTail());
    }
  });
});

describe('limits and errors through socket.io-client', () => {
  it("a namespace other than '/': connect_error 'Invalid namespace'", async () => {
    const c = server.client({ reconnection: false }, '/admin');
    const err = await c.waitConnectError();
    assert.equal(err.message, 'Invalid namespace');
    assert.equal(c.connects, 0);
  });

  for (const transports of [['websocket'], ['polling']]) {
    it(`a binary emit (${transports[0]}) is answered binary_not_supported and never reaches the room`, async () => {
      const room = await relayRoom();
      const host = await relayHost(server, room);
      const player = server.client({ transports });
      player.emit('handshake', { roomCode: room.roomCode, role: 'player' });
      const hello = await player.arg('handshake_response');
      assert.equal(hello.status, 'success');
      player.emit('message_to_host', { message: Buffer.from([1, 2, 3]) });
      const err = await player.arg('error');
      assert.equal(err.code, 'binary_not_supported', JSON.stringify(err));
      player.emit('message_to_host', { message: 'text after binary' });
      const first = await host.arg('client_message');
      assert.deepEqual(first, { clientId: hello.clientId, role: 'player', message: 'text after binary' });
      await expectNone(host, 'client_message', 200);
      assert.equal(host.all('client_message').length, 1);
      assert.ok(player.socket.connected, 'the socket stays connected');
    });
  }

  it('the rate limit over Socket.IO: rate_limited error events and acks, the dropped messages never reach the host', async () => {
    const own = await new PartydServer(['--rate-limit-messages', '5', '--rate-limit-window-ms', '60000']).start();
    try {
      const room = await relayRoom(own);
      const host = await relayHost(own, room);
      const player = own.client({ transports: ['websocket'] });
      player.emit('handshake', { roomCode: room.roomCode, role: 'player' }); // counts: 1 of 5
      const hello = await player.arg('handshake_response');
      assert.equal(hello.status, 'success');
      const acks = [];
      for (let n = 1; n <= 9; n++) acks.push(await player.emitWithAck('message_to_host', { message: n }));
      assert.deepEqual(acks.slice(0, 4), [{ ok: true }, { ok: true }, { ok: true }, { ok: true }], JSON.stringify(acks));
      for (const a of acks.slice(4)) {
        assert.equal(a.ok, false, JSON.stringify(acks));
        assert.equal(a.error, 'rate_limited');
        assert.equal(typeof a.message, 'string');
      }
      await player.until(() => player.all('error').length >= 5, 5000, 'five rate_limited errors');
      for (const e of player.all('error')) {
        assert.equal(e.args[0].code, 'rate_limited', JSON.stringify(e.args));
        assert.equal(e.args[0].requestType, undefined, 'rate_limited has no requestType');
      }
      const got = [];
      for (let i = 0; i < 4; i++) got.push((await host.arg('client_message')).message);
      assert.deepEqual(got, [1, 2, 3, 4]);
      await expectNone(host, 'client_message', 300);
      // The host is exempt.
      for (let n = 0; n < 8; n++) assert.deepEqual(await host.emitWithAck('set_game_state', { state: { n } }), { ok: true });
      const metrics = await own.metrics();
      assert.match(metrics, /^partyd_socketio_\w+/m);
    } finally {
      assert.equal(await own.stop(), 0, own.logTail());
    }
  });

  it('/metrics has partyd_socketio_ series, and Socket.IO traffic moves them', async () => {
    const counters = (text) => {
      const series = text.split('\n').filter((l) => l.startsWith('partyd_socketio_'));
      assert.ok(series.length > 0, `no partyd_socketio_ series in /metrics:\n${text.slice(0, 3000)}`);
      for (const line of series) assert.match(line, /^partyd_socketio_[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/, line);
      return series.filter((l) => /^partyd_socketio_[a-z_]+_total[ {]/.test(l)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    };
    const before = await server.server.metrics();
    assert.ok(before.includes('partyd_socketio_ping_timeouts_total'), 'partyd_socketio_ping_timeouts_total is listed');
    const total = counters(before);
    // Traffic: a polling session with a POST and a GET, and a WebSocket session.
    const sid = await openSession();
    assert.equal((await post(sid, '40')).body, 'ok');
    await pollUntil(sid, (ps) => ps.length > 0);
    const c = server.client({ transports: ['websocket'] });
    await c.waitConnected();
    const after = counters(await server.server.metrics());
    assert.ok(after > total, `the partyd_socketio_*_total counters did not move: ${total} -> ${after}`);
  });
});
