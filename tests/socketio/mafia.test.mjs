// Mafia (docs/protocol/mafia.md) through the npm socket.io-client 4.x against the real partyd
// (docs/protocol/socketio.md, `query: {game: 'mafia'}`): a whole private game of six with roles
// that stay private until game:end, acknowledgements, identity from a token (development mode and
// JWT), and a player whose connection dies and whose session is recovered with the events it
// missed (socket.recovered), or, after the backfill window, with its state.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';

import { PartydServer, TEST_TIMEOUT_MS, expectNone, sleep, useServer, withLog } from './harness.mjs';

const server = useServer();
const it = (name, fn) => test(name, { timeout: TEST_TIMEOUT_MS }, withLog(server, fn));

const FAST = { nightTime: 1, discussionTime: 1, voteTime: 5 };
const SLOW = { nightTime: 60, discussionTime: 60, voteTime: 60 };

// An HS256 JWT of `claims` (valid for an hour) signed with `secret`.
function jwt(secret, claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

// The offset (sequenceId as a string) of a numbered event: its last argument; undefined otherwise.
function offsetOf(e) {
  const last = e.args[e.args.length - 1];
  return typeof last === 'string' ? last : undefined;
}

// An identified Mafia client (`rec.user`: the auth:success payload).
async function identify(name, options = {}, target = server) {
  const c = target.client({ query: { game: 'mafia' }, ...options });
  c.emit('auth:identify', { username: name });
  const ok = await c.arg('auth:success');
  assert.match(ok.userId, /^[0-9a-f-]{36}$/, JSON.stringify(ok));
  assert.equal(ok.username, name);
  assert.equal(ok.isGuest, true);
  assert.match(ok.token, /^[0-9a-f-]{36}\.[0-9a-f]{32}$/);
  c.user = ok;
  return c;
}

// The last room:update payload `c` received.
function lastRoom(c) {
  const updates = c.all('room:update');
  return updates.length ? updates[updates.length - 1].args[0] : undefined;
}

// `players[0]` creates a private lobby, the others join and get ready. Returns the room code.
async function lobby(players, settings) {
  const [hostClient, ...others] = players;
  hostClient.emit('room:create', { isPublic: false, maxPlayers: 8, settings });
  const made = await hostClient.next('room:update');
  const room = made.args[0];
  assert.match(room.roomCode, /^[A-Z0-9]{6}$/, JSON.stringify(made.args));
  assert.equal(room.status, 'lobby');
  assert.equal(room.hostId, hostClient.user.userId);
  assert.deepEqual(room.settings, settings);
  // A numbered frame: the payload, then its other members, then the offset.
  assert.equal(made.args.length, 3, JSON.stringify(made.args));
  assert.equal(typeof made.args[1].sequenceId, 'number');
  assert.equal(made.args[2], String(made.args[1].sequenceId));
  const connected = await hostClient.arg('CONNECTED');
  assert.match(connected.sessionId, /^sess_[0-9a-f]{24}$/);
  assert.match(connected.resumeToken, /^[0-9a-f]{64}$/);
  for (const p of others) {
    p.emit('room:join', { roomCode: room.roomCode.toLowerCase() });
    assert.equal((await p.arg('room:update')).roomCode, room.roomCode);
    p.emit('room:ready');
  }
  await hostClient.until(() => {
    const r = lastRoom(hostClient);
    return r && r.players.length === players.length && r.players.every((s) => s.isHost || s.ready);
  }, 5000, 'every player seated and ready');
  return room.roomCode;
}

describe('mafia over socket.io-client', () => {
  it('a whole game of six: roles privately, night actions, the vote, game:end, and no role leaks before it', async () => {
    const players = [];
    for (const name of ['Ann', 'Ben', 'Cid', 'Dee', 'Eve', 'Fay']) players.push(await identify(name));
    await lobby(players, FAST);
    const [hostClient] = players;
    hostClient.emit('room:start');

    // Each client's game:role is its own, once.
    const roles = new Map(); // userId -> role
    for (const p of players) {
      const r = await p.arg('game:role');
      assert.ok(['mafia', 'detective', 'doctor', 'villager'].includes(r.role), JSON.stringify(r));
      roles.set(p.user.userId, r.role);
      p.role = r.role;
    }
    const count = (role) => players.filter((p) => p.role === role).length;
    assert.deepEqual([count('mafia'), count('detective'), count('doctor'), count('villager')], [1, 1, 1, 3]);
    const mafia = players.find((p) => p.role === 'mafia');
    const detective = players.find((p) => p.role === 'detective');
    const doctor = players.find((p) => p.role === 'doctor');
    const villagers = players.filter((p) => p.role === 'villager');
    assert.deepEqual(mafia.all('game:role')[0].args[0].mafia, [mafia.user.userId]);
    for (const p of players.filter((q) => q !== mafia)) assert.equal(p.all('game:role')[0].args[0].mafia, undefined);

    // Night 1.
    for (const p of players) {
      const night = await p.arg('game:phase');
      assert.equal(night.phase, 'night');
      assert.equal(night.round, 1);
      assert.equal(night.duration, 1);
      assert.ok(Math.abs(night.endsAt - Date.now() - 1000) < 3000, JSON.stringify(night));
    }
    const victim = villagers[0];
    mafia.emit('action:mafiaKill', { targetId: victim.user.userId });
    doctor.emit('action:doctorSave', { targetId: detective.user.userId });
    detective.emit('action:detectiveInspect', { targetId: mafia.user.userId });
    villagers[1].emit('action:mafiaKill', { targetId: doctor.user.userId });
    villagers[2].emit('chat:send', { message: 'can I talk?' });
    mafia.emit('chat:send', { message: 'mafia-only-line' });
    assert.deepEqual(await mafia.arg('action:accepted'), { action: 'action:mafiaKill', targetId: victim.user.userId });
    assert.deepEqual(await mafia.arg('action:mafiaVotes'), { votes: { [mafia.user.userId]: victim.user.userId } });
    assert.deepEqual(await doctor.arg('action:accepted'), { action: 'action:doctorSave', targetId: detective.user.userId });
    assert.deepEqual(await detective.arg('action:accepted'), { action: 'action:detectiveInspect', targetId: mafia.user.userId });
    const wrongRole = await villagers[1].arg('room:error');
    assert.equal(wrongRole.reason, 'wrong_role');
    assert.equal(wrongRole.requestType, 'action:mafiaKill');
    const closed = await villagers[2].arg('room:error');
    assert.equal(closed.reason, 'chat_closed');
    assert.deepEqual(
      await mafia.arg('chat:message'),
      { userId: mafia.user.userId, message: 'mafia-only-line', channel: 'mafia' },
    );

    // The night's end: the detective's result, then day with the victim.
    assert.deepEqual(await detective.arg('action:result'), { inspectResult: { targetId: mafia.user.userId, isMafia: true } });
    for (const p of players) {
      const day = await p.arg('game:phase', { timeoutMs: 5000 });
      assert.equal(day.phase, 'day', JSON.stringify(day));
      assert.equal(day.round, 1);
      assert.equal(day.killedUserId, victim.user.userId);
      assert.equal(day.saved, false);
    }
    // By day the living speak to everyone.
    detective.emit('chat:send', { message: 'it was them' });
    for (const p of players) {
      assert.deepEqual(
        await p.arg('chat:message', { where: (m) => m.channel === 'all' }),
        { userId: detective.user.userId, message: 'it was them', channel: 'all' },
      );
    }

    // Voting: the town votes out the mafia, the mafia votes for a villager.
    for (const p of players) {
      const voting = await p.arg('game:phase', { timeoutMs: 5000 });
      assert.equal(voting.phase, 'voting', JSON.stringify(voting));
    }
    victim.emit('vote:cast', { targetId: mafia.user.userId });
    const dead = await victim.arg('room:error');
    assert.equal(dead.reason, 'not_alive');
    const living = players.filter((p) => p !== victim);
    for (const p of living) {
      p.emit('vote:cast', { targetId: p === mafia ? villagers[1].user.userId : mafia.user.userId });
    }
    const result = await hostClient.arg('vote:result', { timeoutMs: 8000 });
    assert.equal(result.eliminatedUserId, mafia.user.userId, JSON.stringify(result));
    const updates = hostClient.all('vote:update').map((e) => e.args[0]);
    assert.ok(updates.length >= 1);
    const finalCounts = updates[updates.length - 1].counts;
    assert.equal(finalCounts[mafia.user.userId], 4, JSON.stringify(updates));
    assert.equal(finalCounts[villagers[1].user.userId], 1, JSON.stringify(updates));

    // game:end to everyone, with every role.
    const ends = [];
    for (const p of players) {
      const end = await p.arg('game:end', { timeoutMs: 5000 });
      assert.equal(end.winner, 'villagers');
      assert.deepEqual(end.roles, Object.fromEntries(roles));
      ends.push(end);
    }
    const deaths = ends[0].stats.deaths.map((d) => [d.userId, d.round, d.cause]);
    assert.deepEqual(deaths, [[victim.user.userId, 1, 'night_kill'], [mafia.user.userId, 1, 'vote']]);
    assert.equal(ends[0].stats.mafiaAlive, 0);
    assert.equal(ends[0].stats.villagersAlive, 4);

    // Privacy: before its game:end no client received anything naming a role other than its
    // own game:role, nor another's night result, the mafia's votes or the mafia's chat.
    for (const p of players) {
      const endIndex = p.events.findIndex((e) => e.event === 'game:end');
      assert.ok(endIndex > 0);
      const before = p.events.slice(0, endIndex);
      assert.equal(before.filter((e) => e.event === 'game:role').length, 1, p.describe());
      for (const e of before) {
        const text = JSON.stringify(e.args);
        if (e.event === 'game:role') {
          assert.equal(e.args[0].role, p.role);
          continue;
        }
        assert.ok(!/"roles?"/.test(text), `${p.role} ${p.user.username} received a role in ${e.event}: ${text}`);
        if (p.role !== 'mafia') {
          assert.notEqual(e.event, 'action:mafiaVotes', `${p.role} received ${text}`);
          assert.ok(!text.includes('mafia-only-line'), `${p.role} received the mafia's chat: ${text}`);
        }
        if (p.role !== 'detective') assert.notEqual(e.event, 'action:result', `${p.role} received ${text}`);
      }
    }
    // Numbered events of each client form one gapless run from 1.
    for (const p of players) {
      const offsets = p.events.map(offsetOf).filter((o) => o !== undefined).map(Number);
      assert.deepEqual(offsets, offsets.map((_, i) => i + 1), `${p.user.username}: ${offsets}`);
    }
  });

  it('acks: {ok: true} for a message handed to the room, {ok: false, ...} for one refused before it', async () => {
    const a = await identify('Acker');
    const b = await identify('Bea');
    a.emit('room:create', {});
    const code = (await a.arg('room:update')).roomCode;
    b.emit('room:join', { roomCode: code });
    await b.arg('room:update');
    assert.deepEqual(await a.emitWithAck('chat:send', { message: 'hi' }), { ok: true });
    assert.deepEqual(await b.arg('chat:message'), { userId: a.user.userId, message: 'hi', channel: 'all' });
    // Handed to the room and refused there: ok, then room:error.
    assert.deepEqual(await b.emitWithAck('room:start'), { ok: true });
    const notHost = await b.arg('room:error');
    assert.equal(notHost.reason, 'not_host');
    assert.equal(notHost.requestType, 'room:start');
    // Refused before the room: a payload that is not an object.
    const bad = await a.emitWithAck('chat:send', 'hi');
    assert.equal(bad.ok, false, JSON.stringify(bad));
    assert.equal(typeof bad.error, 'string');
    assert.equal(typeof bad.message, 'string');
    assert.equal((await a.arg('room:error')).reason, bad.error);
    await expectNone(b, 'chat:message', 300, (m) => m.message !== 'hi');
    // `extra`: top-level members such as clientMsgId; a retried command counts once.
    a.emit('chat:send', { message: 'once' }, { clientMsgId: 'm-1' });
    a.emit('chat:send', { message: 'once' }, { clientMsgId: 'm-1' });
    await b.arg('chat:message', { where: (m) => m.message === 'once' });
    await expectNone(b, 'chat:message', 400, (m) => m.message === 'once');
    assert.equal(b.all('chat:message').filter((e) => e.args[0].message === 'once').length, 1);
  });

  it('a dropped player is recovered: the same pid (socket.recovered), the missed events in order, then RECONNECTED', async () => {
    const ann = await identify('Ann');
    const ben = await identify('Ben');
    const cat = await identify('Cat', { transports: ['websocket'], reconnectionDelay: 1500, randomizationFactor: 0 });
    ann.emit('room:create', { settings: SLOW });
    const code = (await ann.arg('room:update')).roomCode;
    for (const p of [ben, cat]) {
      p.emit('room:join', { roomCode: code });
      await p.arg('room:update');
    }
    await ann.until(() => lastRoom(ann)?.players.length === 3, 5000, 'three seats');
    await cat.until(() => lastRoom(cat)?.players.length === 3, 5000, 'three seats (cat)');
    await sleep(100);
    assert.equal(cat.socket.recovered, false);
    const seenBefore = cat.events.length;
    const offsetsBefore = cat.events.map(offsetOf).filter(Boolean);
    assert.ok(offsetsBefore.length >= 1, cat.describe());

    // The connection dies (no close handshake): the room shows Cat away at once.
    cat.socket.io.engine.transport.ws.terminate();
    await ann.until(() => lastRoom(ann)?.players.find((s) => s.userId === cat.user.userId)?.connected === false, 5000, 'Cat shown away');
    // What happens meanwhile is numbered for Cat's session.
    ann.emit('chat:send', { message: 'while you were away' });
    await ben.arg('chat:message', { where: (m) => m.message === 'while you were away' });
    ben.emit('room:ready');
    await ann.until(() => lastRoom(ann)?.players.find((s) => s.userId === ben.user.userId)?.ready === true, 5000, 'Ben ready');

    await cat.waitConnected(2, 8000);
    assert.equal(cat.socket.recovered, true, 'the CONNECT answer has the same pid');
    const reconnected = await cat.next('RECONNECTED', { timeoutMs: 5000 });
    const payload = reconnected.args[0];
    assert.equal(payload.recovered, true, JSON.stringify(payload));

    const afterDrop = cat.events.slice(seenBefore);
    const reconnectedAt = afterDrop.indexOf(reconnected);
    const missed = afterDrop.slice(0, reconnectedAt);
    assert.ok(missed.every((e) => e.connection === 2), 'nothing arrived while away');
    const chat = missed.filter((e) => e.event === 'chat:message');
    assert.deepEqual(chat.map((e) => e.args[0]), [{ userId: ann.user.userId, message: 'while you were away', channel: 'all' }]);
    assert.ok(
      missed.some((e) => e.event === 'room:update' && e.args[0].players.find((s) => s.userId === ben.user.userId)?.ready),
      `missed events: ${JSON.stringify(missed.map((e) => [e.event, e.args]))}`,
    );
    // Sent again in order: the numbers go on from where the first connection stopped.
    const all = cat.events.map(offsetOf).filter(Boolean).map(Number);
    assert.deepEqual(all, all.map((_, i) => i + 1), `offsets: ${all}`);
    assert.equal(payload.lastSeqId, Number(offsetOf(missed[missed.length - 1])));

    // Live again: the next events arrive on the new connection.
    ann.emit('chat:send', { message: 'welcome back' });
    const live = await cat.next('chat:message', { where: (m) => m.message === 'welcome back' });
    assert.equal(live.connection, 2);
    assert.equal(Number(offsetOf(live)), Math.max(...cat.events.map(offsetOf).filter(Boolean).map(Number)));
    await ann.until(() => lastRoom(ann)?.players.find((s) => s.userId === cat.user.userId)?.connected === true, 5000, 'Cat shown back');
    cat.emit('chat:send', { message: 'thanks' });
    await ben.arg('chat:message', { where: (m) => m.message === 'thanks' && m.userId === cat.user.userId });
    // Last, as the other checks do not depend on it: the replayed events are not repeated inside
    // RECONNECTED.
    assert.equal('missedEvents' in payload, false, `missedEvents is left out (they came as events): ${JSON.stringify(payload.missedEvents)?.slice(0, 300)}`);
  });

  it('--auth-required-games mafia: a CONNECT without a valid token gets CONNECT_ERROR unauthorized; the upgrade identity wins over auth:identify', async () => {
    // Development mode (no JWT key): ?name= stands for the token (docs/operations.md).
    const own = await new PartydServer(['--auth-required-games', 'mafia']).start();
    try {
      const refused = own.client({ query: { game: 'mafia' }, reconnection: false });
      const err = await refused.waitConnectError();
      assert.equal(err.message, 'unauthorized', `${err.message} ${JSON.stringify(err.data)}`);
      assert.equal(typeof err.data?.code, 'string', JSON.stringify(err.data));
      assert.equal(refused.connects, 0);
      // The Engine.IO handshake is authenticated like a WebSocket upgrade: ?name= is the identity.
      const ann = own.client({ query: { game: 'mafia', name: 'Ann' }, reconnection: false });
      await ann.until(() => ann.connects > 0 || ann.connectErrors.length > 0, 5000, 'connect or connect_error');
      assert.deepEqual(
        ann.connectErrors.map((e) => [e.message, e.data]), [],
        'a handshake with ?name= in development mode is accepted',
      );
      ann.emit('auth:identify', { username: 'Someone Else' });
      const ok = await ann.arg('auth:success');
      assert.equal(ok.userId, 'dev:Ann');
      assert.equal(ok.isGuest, false);
      assert.equal('token' in ok, false);
    } finally {
      assert.equal(await own.stop(), 0, own.logTail());
    }
  });

  it('a JWT identifies a Socket.IO client: in the CONNECT auth object or the Authorization header of the handshake', async () => {
    const secret = 'socketio-test-secret-0123456789abcdef';
    const own = await new PartydServer(['--auth-jwt-secret', secret, '--auth-required-games', 'mafia']).start();
    try {
      const ann = own.client({ query: { game: 'mafia' }, auth: { token: jwt(secret, { sub: 'user-ann', name: 'Ann' }) } });
      ann.emit('auth:identify', { username: 'Ignored' });
      const a = await ann.arg('auth:success');
      assert.deepEqual([a.userId, a.isGuest, 'token' in a], ['user-ann', false, false], JSON.stringify(a));
      const bob = own.client({
        query: { game: 'mafia' },
        extraHeaders: { Authorization: `Bearer ${jwt(secret, { sub: 'user-bob', name: 'Bob' })}` },
      });
      bob.emit('auth:identify', { username: 'Ignored' });
      const b = await bob.arg('auth:success');
      assert.deepEqual([b.userId, b.isGuest], ['user-bob', false], JSON.stringify(b));
      const forged = own.client({ query: { game: 'mafia' }, auth: { token: jwt('another-secret-0123456789abcdefgh', { sub: 'x' }) }, reconnection: false });
      const err = await forged.waitConnectError();
      assert.equal(err.message, 'unauthorized');
      assert.equal(typeof err.data?.code, 'string', JSON.stringify(err.data));
    } finally {
      assert.equal(await own.stop(), 0, own.logTail());
    }
  });

  it('after the backfill window: a new pid (socket.recovered false) and RECONNECTED with recovered: false and the state', async () => {
    // Its own server: a short backfill window, so that a short absence is already too long.
    const own = await new PartydServer(['--mafia-session-backfill-ms', '300']).start();
    try {
      const ann = await identify('Ann', {}, own);
      const dan = await identify('Dan', { transports: ['websocket'], reconnectionDelay: 1500, randomizationFactor: 0 }, own);
      ann.emit('room:create', { settings: SLOW });
      const code = (await ann.arg('room:update')).roomCode;
      dan.emit('room:join', { roomCode: code });
      await dan.arg('room:update');
      await ann.until(() => lastRoom(ann)?.players.length === 2, 5000, 'two seats');
      await sleep(100);
      const before = dan.events.length;

      dan.socket.io.engine.transport.ws.terminate();
      await ann.until(() => lastRoom(ann)?.players.find((s) => s.userId === dan.user.userId)?.connected === false, 5000, 'Dan shown away');
      ann.emit('chat:send', { message: 'gone too long' });
      await dan.waitConnected(2, 8000);
      assert.equal(dan.socket.recovered, false, 'a new pid');
      const reconnected = await dan.arg('RECONNECTED', { timeoutMs: 5000 });
      assert.equal(reconnected.recovered, false, JSON.stringify(reconnected));
      assert.equal(reconnected.gameState.roomCode, code);
      assert.equal(reconnected.gameState.you.userId, dan.user.userId);
      assert.deepEqual(
        reconnected.gameState.players.map((s) => s.userId).sort(),
        [ann.user.userId, dan.user.userId].sort(),
      );
      const missedChat = dan.events.slice(before).filter((e) => e.event === 'chat:message');
      assert.deepEqual(missedChat, [], 'nothing replayed: the state replaces it');
      // The seat is Dan's again.
      dan.emit('chat:send', { message: 'I am back' });
      await ann.arg('chat:message', { where: (m) => m.message === 'I am back' && m.userId === dan.user.userId });
    } finally {
      const status = await own.stop();
      assert.equal(status, 0, own.logTail());
    }
  });
});
