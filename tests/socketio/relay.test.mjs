// The relay (docs/protocol/relay.md) through the npm socket.io-client 4.x against the real partyd
// (docs/protocol/socketio.md): default transports with the upgrade to WebSocket (also with the
// probe held back, to see events over polling first), WebSocket only, the example of the relay
// seed's README (a fixed room code and host key) with its privacy, refused handshakes,
// acknowledgements, a player whose connection dies and who takes its seat back with its clientId,
// and a player with a session recovered by socket.io-client's connection-state recovery.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { NodeWebSocket, NodeXHR } from 'engine.io-client';

import { io, Recorder, TEST_TIMEOUT_MS, expectNone, sleep, useServer, withLog } from './harness.mjs';

const server = useServer();

// socket.io-client's Node WebSocket transport, opened 500 ms late: as an upgrade probe it keeps a
// session on polling long enough to see events pass there first.
class HeldBackWebSocket extends NodeWebSocket {
  doOpen() {
    setTimeout(() => super.doOpen(), 500);
  }
}
const it = (name, fn) => test(name, { timeout: TEST_TIMEOUT_MS }, withLog(server, fn));

// A relay room through the admin API: {roomCode, hostKey, ...}.
async function createRoom(options = {}) {
  const r = await server.server.createRoom({ game: 'relay', ...options });
  assert.equal(r.status, 201, `POST /api/rooms: ${r.status} ${r.body}`);
  return r.json;
}

// A connected host of `room` (WebSocket only unless `options` say otherwise).
async function host(room, options = { transports: ['websocket'] }) {
  const h = server.client(options);
  h.emit('handshake', { roomCode: room.roomCode, role: 'host', hostKey: room.hostKey });
  const r = await h.arg('handshake_response');
  assert.equal(r.status, 'success', JSON.stringify(r));
  return h;
}

// A joined player or audience member: [recorder, handshake_response argument].
async function join(room, role, extra = {}, options = {}) {
  const c = server.client(options);
  c.emit('handshake', { roomCode: room.roomCode, role, ...extra });
  const r = await c.arg('handshake_response');
  assert.equal(r.status, 'success', JSON.stringify(r));
  return [c, r];
}

describe('relay over socket.io-client', () => {
  it('default transports: polling first, then the upgrade to websocket, messages pass before and after', async () => {
    const room = await createRoom();
    const h = await host(room);

    const player = server.client(); // socket.io-client's defaults: polling, then the upgrade
    const engine = player.socket.io.engine;
    const packets = []; // Engine.IO packets received, with the transport that carried them
    let handshake;
    engine.on('handshake', (data) => (handshake = data));
    engine.on('packet', (p) => packets.push({ type: p.type, data: p.data, transport: engine.transport.name }));
    const upgraded = new Promise((resolve) => engine.once('upgrade', (t) => resolve(t.name)));
    assert.equal(engine.transport.name, 'polling');

    player.emit('handshake', { roomCode: room.roomCode, role: 'player', meta: { name: 'Polly' } });
    const hello = await player.arg('handshake_response');
    assert.equal(hello.status, 'success', JSON.stringify(hello));
    assert.equal(hello.role, 'player');
    assert.match(hello.clientId, /^p_.{24}$/);
    assert.equal(hello.type, undefined, 'the event argument is the frame without its type');
    const joined = await h.arg('client_joined');
    assert.deepEqual(joined, { clientId: hello.clientId, role: 'player', meta: { name: 'Polly' }, reconnected: false });

    // The open packet of a polling session offers the upgrade.
    assert.equal(typeof handshake?.sid, 'string');
    assert.equal(handshake.sid.length, 20, JSON.stringify(handshake));
    assert.deepEqual(handshake.upgrades, ['websocket']);
    assert.equal(handshake.pingInterval, 10000);
    assert.equal(handshake.pingTimeout, 20000);
    assert.equal(handshake.maxPayload, 100000);

    assert.equal(await Promise.race([upgraded, sleep(5000).then(() => 'no upgrade within 5 s')]), 'websocket');
    assert.equal(player.socket.io.engine.transport.name, 'websocket');
    assert.equal(player.socket.io.engine.id, handshake.sid, 'the upgrade keeps the session');

    // Before the upgrade: the open packet and the Socket.IO CONNECT answer came over polling (the
    // CONNECT answer is the first "message" packet). How many events follow over polling before
    // the upgrade is a race; the next test holds the upgrade back to see them.
    assert.equal(packets[0].type, 'open');
    assert.equal(packets[0].transport, 'polling');
    const messages = packets.filter((p) => p.type === 'message');
    assert.ok(messages.length >= 1);
    assert.match(messages[0].data, /^0\{"sid":"[^"]+"/);
    assert.equal(messages[0].transport, 'polling');

    // After the upgrade, both ways.
    h.emit('set_game_state', { state: { step: 'after', list: [1, 2, 3] } });
    const state = await player.next('game_state');
    assert.deepEqual(state.args, [{ state: { step: 'after', list: [1, 2, 3] } }]);
    assert.equal(state.transport, 'websocket');
    player.emit('message_to_host', { message: { move: 'e4' } });
    assert.deepEqual(await h.arg('client_message'), { clientId: hello.clientId, role: 'player', message: { move: 'e4' } });
    assert.equal(player.socket.io.engine.transport.name, 'websocket');
    assert.equal(player.connects, 1);
  });

  it('polling, then the upgrade with its probe held back: events pass over polling, the held GET is answered noop, then events pass over websocket', async () => {
    const room = await createRoom();
    const h = await host(room);
    // socket.io-client's own transports (polling, then websocket), the WebSocket probe opened
    // 500 ms late so that the polling phase is long enough to exchange events.
    const player = server.client({ transports: [NodeXHR, HeldBackWebSocket] });
    const engine = player.socket.io.engine;
    const packets = [];
    engine.on('packet', (p) => packets.push({ type: p.type, data: p.data, transport: engine.transport.name }));
    const upgraded = new Promise((resolve) => engine.once('upgrade', (t) => resolve(t.name)));
    player.emit('handshake', { roomCode: room.roomCode, role: 'player', meta: { name: 'Held' } });
    const hello = await player.next('handshake_response');
    assert.equal(hello.args[0].status, 'success', JSON.stringify(hello.args));
    assert.equal(hello.transport, 'polling');
    h.emit('set_game_state', { state: { step: 'before' } });
    const before = await player.next('game_state');
    assert.deepEqual(before.args, [{ state: { step: 'before' } }]);
    assert.equal(before.transport, 'polling');
    player.emit('message_to_host', { message: 'over polling' });
    assert.deepEqual(await h.arg('client_message'), { clientId: hello.args[0].clientId, role: 'player', message: 'over polling' });
    assert.equal(engine.transport.name, 'polling', 'still polling: the probe is held back');
    const sid = engine.id;

    assert.equal(await Promise.race([upgraded, sleep(5000).then(() => 'no upgrade within 5 s')]), 'websocket');
    assert.equal(engine.id, sid);
    assert.ok(
      packets.some((p) => p.type === 'noop' && p.transport === 'polling'),
      `the held GET is answered with a noop packet: ${JSON.stringify(packets.map((p) => [p.type, p.transport]))}`,
    );
    h.emit('set_game_state', { state: { step: 'after' } });
    const after = await player.next('game_state');
    assert.deepEqual(after.args, [{ state: { step: 'after' } }]);
    assert.equal(after.transport, 'websocket');
    player.emit('message_to_host', { message: 'over websocket' });
    assert.deepEqual(await h.arg('client_message'), { clientId: hello.args[0].clientId, role: 'player', message: 'over websocket' });
    assert.equal(player.connects, 1);
  });

  it("transports: ['websocket']: no polling at all, the same relay", async () => {
    const room = await createRoom();
    const h = await host(room);
    const audience = server.client({ transports: ['websocket'] });
    let handshake;
    audience.socket.io.engine.on('handshake', (data) => (handshake = data));
    assert.equal(audience.socket.io.engine.transport.name, 'websocket');
    audience.emit('handshake', { roomCode: room.roomCode, role: 'audience' });
    const hello = await audience.arg('handshake_response');
    assert.equal(hello.status, 'success', JSON.stringify(hello));
    assert.equal(hello.role, 'audience');
    assert.match(hello.clientId, /^a_/);
    assert.deepEqual(hello.gameState, {});
    assert.deepEqual(hello.polls, []);
    assert.deepEqual(handshake.upgrades, [], 'a WebSocket session offers no upgrade');
    const [player] = await join(room, 'player', { meta: { name: 'Wes' } }, { transports: ['websocket'] });

    // A poll reaches the audience and not the player; the answer reaches the host.
    h.emit('poll_start', { pollId: 'q1', pollType: 'single_choice', question: 'Best colour?', options: ['Red', 'Blue'] });
    assert.deepEqual(await audience.arg('poll_started'), {
      pollId: 'q1', pollType: 'single_choice', question: 'Best colour?', options: ['Red', 'Blue'],
    });
    audience.emit('poll_response', { pollId: 'q1', response: 'Blue' });
    assert.deepEqual(await h.arg('poll_response'), { pollId: 'q1', clientId: hello.clientId, response: 'Blue' });
    h.emit('poll_results_request', { pollId: 'q1' });
    assert.deepEqual(await h.arg('poll_results'), {
      pollId: 'q1', pollType: 'single_choice', active: true, counts: { Red: 0, Blue: 1 }, totalResponses: 1,
    });
    // An error of the room is the `error` event.
    h.emit('poll_end', { pollId: 'nope' });
    const err = await h.arg('error');
    assert.equal(err.code, 'poll_not_found');
    assert.equal(err.requestType, 'poll_end');
    await expectNone(player, 'poll_started', 200);
    for (const c of [h, audience, player]) {
      assert.ok(c.events.every((e) => e.transport === 'websocket'), c.describe());
    }
  });

  it("the relay seed's README example: fixed room code and host key, host, player and audience, and nobody sees another's private state", async () => {
    const created = await server.server.createRoom({
      game: 'relay', roomCode: 'TEST123', hostKey: 'host-key-123', password: 'secret', maxPlayers: 10, maxAudience: 50,
    });
    assert.equal(created.status, 201, `POST /api/rooms: ${created.status} ${created.body}`);
    const { roomCode, hostKey, game, maxPlayers, maxAudience, hasPassword } = created.json;
    assert.deepEqual(
      { roomCode, hostKey, game, maxPlayers, maxAudience, hasPassword },
      { roomCode: 'TEST123', hostKey: 'host-key-123', game: 'relay', maxPlayers: 10, maxAudience: 50, hasPassword: true },
    );

    const port = server.port;
    // Exactly as in docs/protocol/socketio.md.
    const socket = io('http://127.0.0.1:' + port);
    server.track(socket);
    const hostRec = new Recorder(socket);
    const hostAnswer = new Promise((resolve) => {
      socket.emit('handshake', { roomCode: 'TEST123', role: 'host', hostKey: 'host-key-123' });
      socket.on('handshake_response', (data) => resolve(data));
    });
    const hostHello = await Promise.race([hostAnswer, sleep(5000).then(() => 'no handshake_response within 5 s')]);
    assert.equal(hostHello.status, 'success', JSON.stringify(hostHello));
    assert.equal(hostHello.roomCode, 'TEST123');
    assert.equal(hostHello.role, 'host');
    assert.match(hostHello.clientId, /^h_/);
    assert.deepEqual(hostHello.gameState, {});
    assert.deepEqual(hostHello.clients, []);
    assert.deepEqual(hostHello.polls, []);

    const alice = io('http://127.0.0.1:' + port);
    server.track(alice);
    const aliceRec = new Recorder(alice);
    alice.emit('handshake', { roomCode: 'TEST123', role: 'player', password: 'secret', meta: { playerName: 'Alice' } });
    const aliceHello = await aliceRec.arg('handshake_response');
    assert.equal(aliceHello.status, 'success', JSON.stringify(aliceHello));
    assert.equal(aliceHello.roomCode, 'TEST123');
    assert.equal(aliceHello.role, 'player');
    assert.match(aliceHello.clientId, /^p_.{24}$/);
    assert.equal(typeof aliceHello.seatToken, 'string');
    assert.ok(aliceHello.seatToken.length >= 16, aliceHello.seatToken);
    assert.equal(aliceHello.playerState, null);
    assert.deepEqual(aliceHello.gameState, {});
    assert.deepEqual(await hostRec.arg('client_joined'), {
      clientId: aliceHello.clientId, role: 'player', meta: { playerName: 'Alice' }, reconnected: false,
    });

    const audience = io('http://127.0.0.1:' + port);
    server.track(audience);
    const audienceRec = new Recorder(audience);
    audience.emit('handshake', { roomCode: 'TEST123', role: 'audience' });
    const audienceHello = await audienceRec.arg('handshake_response');
    assert.equal(audienceHello.status, 'success', JSON.stringify(audienceHello));
    assert.equal(audienceHello.role, 'audience');
    assert.match(audienceHello.clientId, /^a_/);
    assert.deepEqual(audienceHello.polls, []);
    const audienceJoined = await hostRec.arg('client_joined');
    assert.equal(audienceJoined.clientId, audienceHello.clientId);
    assert.equal(audienceJoined.role, 'audience');

    // The host sets the game state and Alice's private state.
    const gameState = { round: 1, phase: 'question', question: 'Capital of France?', scores: { [aliceHello.clientId]: 0 } };
    const secret = { secretWord: 'croissant-4711', hand: ['c1', 'c2'] };
    socket.emit('set_game_state', { state: gameState });
    socket.emit('set_player_state', { clientId: aliceHello.clientId, state: secret });
    assert.deepEqual((await aliceRec.next('game_state')).args, [{ state: gameState }]);
    assert.deepEqual((await aliceRec.next('player_state')).args, [{ state: secret }]);
    assert.deepEqual((await audienceRec.next('game_state')).args, [{ state: gameState }]);

    // A later player gets the game state in its handshake_response, and no private state.
    const bob = server.client();
    bob.emit('handshake', { roomCode: 'TEST123', role: 'player', password: 'secret', meta: { playerName: 'Bob' } });
    const bobHello = await bob.arg('handshake_response');
    assert.equal(bobHello.status, 'success', JSON.stringify(bobHello));
    assert.deepEqual(bobHello.gameState, gameState);
    assert.equal(bobHello.playerState, null);
    assert.notEqual(bobHello.clientId, aliceHello.clientId);

    // Alice answers; the host hears it with her id.
    alice.emit('message_to_host', { message: { answer: 'Paris' } });
    assert.deepEqual(await hostRec.arg('client_message'), {
      clientId: aliceHello.clientId, role: 'player', message: { answer: 'Paris' },
    });
    // A second private state, then a checkpoint: everything sent before it has been delivered.
    socket.emit('set_player_state', { clientId: aliceHello.clientId, state: { secretWord: 'croissant-4711', hand: ['c3'] } });
    assert.deepEqual((await aliceRec.next('player_state')).args, [{ state: { secretWord: 'croissant-4711', hand: ['c3'] } }]);
    socket.emit('set_game_state', { state: { round: 2 } });
    for (const c of [aliceRec, audienceRec, bob]) {
      assert.deepEqual((await c.next('game_state', { where: (a) => a.state.round === 2 })).args, [{ state: { round: 2 } }]);
    }
    await sleep(200);

    // Privacy, on every event every client received.
    const everyone = { host: hostRec, alice: aliceRec, audience: audienceRec, bob };
    for (const [who, rec] of Object.entries(everyone)) {
      assert.ok(rec.events.length > 0, who);
      for (const e of rec.events) {
        const text = JSON.stringify(e.args);
        if (text.includes('croissant-4711')) {
          assert.ok(who === 'alice' && e.event === 'player_state', `${who} received Alice's private state in ${e.event}: ${text}`);
        }
        if (text.includes(aliceHello.seatToken)) {
          assert.ok(who === 'alice' && e.event === 'handshake_response', `${who} received Alice's seat token in ${e.event}: ${text}`);
        }
        if (text.includes(bobHello.seatToken)) {
          assert.ok(who === 'bob' && e.event === 'handshake_response', `${who} received Bob's seat token in ${e.event}: ${text}`);
        }
        assert.ok(!text.includes('secret"') && !text.includes('"password"'), `${who} received the password: ${text}`);
      }
    }
    assert.equal(audienceRec.all('player_state').length, 0, audienceRec.describe());
    assert.equal(bob.all('player_state').length, 0, bob.describe());
    assert.equal(aliceRec.all('player_state').length, 2);
  });

  for (const [label, options] of [
    ['default transports', {}],
    ['polling only', { transports: ['polling'] }],
    ['websocket only', { transports: ['websocket'] }],
  ]) {
    it(`a refused handshake (${label}) is its error response, then the server disconnects the socket for good`, async () => {
      const room = await createRoom({ password: 'right' });
      const c = server.client(options);
      c.emit('handshake', { roomCode: room.roomCode, role: 'player', password: 'wrong' });
      const r = await c.arg('handshake_response');
      assert.equal(r.status, 'error');
      assert.equal(r.code, 'wrong_password');
      assert.equal(typeof r.message, 'string');
      assert.equal(await c.waitDisconnected(1), 'io server disconnect', c.describe());
      await sleep(1500); // longer than socket.io-client's first reconnect delay
      assert.equal(c.connects, 1, 'no automatic reconnect after a server disconnect');
      assert.equal(c.socket.active, false);
    });
  }

  it('a handshake for a room that does not exist: room_not_found, then the server disconnects', async () => {
    const d = server.client();
    d.emit('handshake', { roomCode: 'NOSUCHROOM', role: 'audience' });
    const missing = await d.arg('handshake_response');
    assert.equal(missing.status, 'error');
    assert.equal(missing.code, 'room_not_found');
    assert.equal(await d.waitDisconnected(1), 'io server disconnect', d.describe());
  });

  it('an emit with an ack callback gets {ok: true}; one refused before the room gets {ok: false, error, message}', async () => {
    const room = await createRoom();
    const h = await host(room);
    const [player, hello] = await join(room, 'player', { meta: { name: 'Ack' } });

    assert.deepEqual(await player.emitWithAck('message_to_host', { message: { n: 1 } }), { ok: true });
    assert.deepEqual(await h.arg('client_message'), { clientId: hello.clientId, role: 'player', message: { n: 1 } });

    // Handed to the room, refused by it: the ack says ok, the refusal is an `error` event.
    assert.deepEqual(await player.emitWithAck('set_game_state', { state: { hacked: true } }), { ok: true });
    const forbidden = await player.arg('error');
    assert.equal(forbidden.code, 'forbidden');
    assert.equal(forbidden.requestType, 'set_game_state');

    // Refused before the room: an argument that is not an object.
    const notObject = await player.emitWithAck('message_to_host', 'just a string');
    assert.equal(notObject.ok, false, JSON.stringify(notObject));
    assert.equal(notObject.error, 'bad_request');
    assert.equal(typeof notObject.message, 'string');
    const badRequest = await player.arg('error');
    assert.equal(badRequest.code, 'bad_request');
    assert.equal(badRequest.requestType, 'message_to_host');

    // An event that is no message of the relay.
    const unknown = await player.emitWithAck('no_such_message', { x: 1 });
    assert.equal(unknown.ok, false, JSON.stringify(unknown));
    assert.equal(unknown.error, 'unknown_type');
    assert.equal(typeof unknown.message, 'string');
    assert.equal((await player.arg('error')).code, 'unknown_type');

    // The host's acks too; nothing refused reached the host.
    assert.deepEqual(await h.emitWithAck('set_game_state', { state: { round: 9 } }), { ok: true });
    assert.deepEqual(await player.arg('game_state'), { state: { round: 9 } });
    await expectNone(h, 'client_message', 200);
    assert.equal(h.all('client_message').length, 1);
  });

  for (const [how, options, kill] of [
    ['engine.close()', {}, (s) => s.io.engine.close()],
    ['its WebSocket destroyed', { transports: ['websocket'] }, (s) => s.io.engine.transport.ws.terminate()],
  ]) {
    it(`a player whose connection dies (${how}) reconnects by itself and takes its seat back with its clientId`, async () => {
      const room = await createRoom({ password: 'pw' });
      const h = await host(room);
      const player = server.client({ ...options, reconnectionDelay: 1000, randomizationFactor: 0 });
      let seat = null;
      // On every (re)connect: the handshake, with the seat once there is one (relay.md).
      const handshake = () =>
        player.emit('handshake', {
          roomCode: room.roomCode, role: 'player', password: 'pw', meta: { name: 'Rita' },
          ...(seat ? { clientId: seat.clientId, seatToken: seat.seatToken } : {}),
        });
      player.socket.on('connect', handshake);
      seat = await player.arg('handshake_response');
      assert.equal(seat.status, 'success', JSON.stringify(seat));
      assert.equal((await h.arg('client_joined')).reconnected, false);

      kill(player.socket);
      assert.deepEqual(await h.arg('client_disconnected'), { clientId: seat.clientId, role: 'player' });
      // While it is away the host gives it a private state: the reclaim brings it.
      h.emit('set_player_state', { clientId: seat.clientId, state: { hand: ['c7'] } });
      h.emit('set_game_state', { state: { round: 4 } });

      const again = await player.arg('handshake_response', { timeoutMs: 8000 });
      assert.equal(player.connects, 2);
      assert.equal(again.status, 'success', JSON.stringify(again));
      assert.equal(again.clientId, seat.clientId);
      assert.equal(again.seatToken, seat.seatToken);
      assert.deepEqual(again.playerState, { hand: ['c7'] });
      assert.deepEqual(again.gameState, { round: 4 });
      assert.deepEqual(await h.arg('client_joined'), {
        clientId: seat.clientId, role: 'player', meta: { name: 'Rita' }, reconnected: true,
      });
      // The new connection is the seat's.
      player.emit('message_to_host', { message: 'back' });
      assert.deepEqual(await h.arg('client_message'), { clientId: seat.clientId, role: 'player', message: 'back' });
      h.emit('set_player_state', { clientId: seat.clientId, state: { hand: ['c8'] } });
      assert.deepEqual(await player.arg('player_state'), { state: { hand: ['c8'] } });
    });
  }
  it('a relay player with a session (version 1.0) is recovered by socket.io-client: same pid, the missed game_state, RECONNECTED', async () => {
    const room = await createRoom();
    const h = await host(room);
    const player = server.client({ transports: ['websocket'], reconnectionDelay: 1000, randomizationFactor: 0 });
    player.emit('handshake', { roomCode: room.roomCode, role: 'player', version: '1.0', meta: { name: 'Sam' } });
    const connected = await player.arg('CONNECTED');
    const session = connected.payload ?? connected;
    assert.match(session.sessionId, /^sess_[0-9a-f]{24}$/, JSON.stringify(connected));
    const hello = await player.next('handshake_response');
    assert.equal(hello.args[0].status, 'success', JSON.stringify(hello.args));
    assert.equal(hello.args[hello.args.length - 1], '1', 'a numbered frame ends with its offset');
    h.emit('set_game_state', { state: { n: 1 } });
    const first = await player.next('game_state');
    assert.deepEqual(first.args[0].state, { n: 1 });
    assert.equal(first.args[first.args.length - 1], '2');

    player.socket.io.engine.transport.ws.terminate();
    await sleep(100);
    h.emit('set_game_state', { state: { n: 2 } }); // while away: numbered for the session
    await player.waitConnected(2, 5000);
    assert.equal(player.socket.recovered, true);
    const missed = await player.next('game_state', { timeoutMs: 5000 });
    assert.equal(missed.connection, 2);
    assert.deepEqual(missed.args[0].state, { n: 2 });
    assert.equal(missed.args[missed.args.length - 1], '3');
    const reconnected = await player.next('RECONNECTED');
    const payload = reconnected.args[0].payload ?? reconnected.args[0];
    assert.equal(payload.recovered, true, JSON.stringify(reconnected.args));
    assert.equal(payload.lastSeqId, 3);
    assert.ok(player.events.indexOf(missed) < player.events.indexOf(reconnected), 'missed events come before RECONNECTED');
    assert.equal(player.all('handshake_response').length, 1, 'the seat came back without a new handshake');
    // Live: the same seat, no client_disconnected for the host within the grace.
    player.emit('message_to_host', { message: 'still here' });
    assert.deepEqual(await h.arg('client_message'), { clientId: hello.args[0].clientId, role: 'player', message: 'still here' });
    assert.equal(h.all('client_disconnected').length, 0);
    assert.equal('missedEvents' in payload, false, `missedEvents is left out (they came as events): ${JSON.stringify(payload.missedEvents)?.slice(0, 300)}`);
  });
});
