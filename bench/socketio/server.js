// The Socket.IO counterpart of bench/baseline/fanout_baseline.cpp: a stock socket.io 4.x server
// (default transports: long-polling and WebSocket, default Engine.IO settings) that does the
// relay's job for exactly what `partyload --scenario relay-fanout --transport socketio` needs,
// so that partyd's Socket.IO edge can be measured against the ordinary way of serving it:
// - POST /api/rooms with the admin bearer token: 201 and partyd's answer shape (roomCode,
//   hostKey, game, maxPlayers, maxAudience, hasPassword, durable);
// - the `handshake` event (a host with its hostKey; a player, new or reclaiming its seat with
//   clientId and seatToken) answered by `handshake_response` as partyd's relay writes it
//   (docs/protocol/relay.md); a refused one is answered with status "error", then a DISCONNECT,
//   as partyd does for Socket.IO clients (docs/protocol/socketio.md);
// - `set_game_state` from the host: `game_state` to the room's players with one
//   io.to(room).emit (Socket.IO's own rooms: the packet and its WebSocket frame are encoded
//   once per broadcast), `message_to_host` from a player: `client_message` to the host;
// - GET /ready and /health (the figure scripts wait for /ready; both name the pid whose
//   /proc/<pid>/stat partyload --server-pid reads).
// One process, one JavaScript thread: run it pinned to one core (taskset -c 0).
//
// Shortcuts, as in the C++ baseline: no polls, audience, host queue, rate limits or persistence;
// unknown events are ignored (an onAny listener would cost every event a call); a player's
// message while no host is connected is dropped.
//
//   node server.js [--port P (0: any)] [--port-file F] [--admin-token T (empty: no check)]
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { Server } = require('socket.io');

const max_body_bytes = 64 * 1024;

function parse_args(argv) {
  const args = { port: 8080, portFile: '', adminToken: '' };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--port' && value !== undefined) {
      args.port = Number(value);
      ++i;
    } else if (arg === '--port-file' && value !== undefined) {
      args.portFile = value;
      ++i;
    } else if (arg === '--admin-token' && value !== undefined) {
      args.adminToken = value;
      ++i;
    } else {
      process.stderr.write(
        'usage: node server.js [--port P (0 = any)] [--port-file F] [--admin-token T]\n');
      process.exit(arg === '--help' ? 0 : 2);
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    process.stderr.write('socketio bench server: bad --port\n');
    process.exit(2);
  }
  return args;
}

const args = parse_args(process.argv.slice(2));

// code -> { code, hostKey, hostClientId, host (socket or null), seats (clientId -> seat), state }
const rooms = new Map();

function secret() {
  return crypto.randomBytes(18).toString('base64url');
}

function make_room() {
  // Six characters of the relay alphabet, like partyd's codes.
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  let code;
  do {
    code = '';
    for (const byte of crypto.randomBytes(6)) code += alphabet[byte & 31];
  } while (rooms.has(code));
  const room = {
    code,
    hostKey: secret(),
    hostClientId: 'h_' + secret(),
    host: null,
    seats: new Map(),
    state: undefined,
  };
  rooms.set(code, room);
  return room;
}

// ----- HTTP: the admin API's room creation and the probes -----

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function create_room(req, res) {
  if (args.adminToken !== '' && req.headers.authorization !== 'Bearer ' + args.adminToken) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    return reply(res, 401, { error: 'unauthorized', message: 'missing or wrong bearer token' });
  }
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > max_body_bytes) {
      reply(res, 413, { error: 'too_large', message: 'body over 64 KiB' });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > max_body_bytes) return;
    const body = Buffer.concat(chunks).toString('utf8');
    if (body !== '') {
      let options;
      try {
        options = JSON.parse(body);
      } catch {
        options = null;
      }
      if (options === null || typeof options !== 'object' || Array.isArray(options)) {
        return reply(res, 400, { error: 'bad_request', message: 'body must be a JSON object' });
      }
      if (options.game !== undefined && options.game !== 'relay') {
        return reply(res, 400, { error: 'unknown_game', message: 'this server has only relay' });
      }
    }
    const room = make_room();
    // No store: never durable, as partyd answers with --store memory.
    reply(res, 201, {
      roomCode: room.code,
      hostKey: room.hostKey,
      game: 'relay',
      maxPlayers: 0,
      maxAudience: 0,
      hasPassword: false,
      durable: false,
    });
  });
}

function on_request(req, res) {
  const path = req.url.split('?', 1)[0];
  if (path === '/api/rooms' && req.method === 'POST') return create_room(req, res);
  if ((path === '/ready' || path === '/health') && req.method === 'GET') {
    return reply(res, 200, { status: 'ok', pid: process.pid, rooms: rooms.size });
  }
  reply(res, 404, { error: 'not_found', message: 'no such path' });
}

// ----- Socket.IO: the relay events -----

const server = http.createServer(on_request);
// Default options (transports, ping interval and timeout, buffer size); no client bundle served.
const io = new Server(server, { serveClient: false });

function is_object(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// A refused first message: final for the socket, as for partyd's Socket.IO clients.
function refuse_handshake(socket, code, message) {
  socket.emit('handshake_response', { status: 'error', code, message });
  socket.disconnect(true);
}

function send_error(socket, code, message, requestType) {
  socket.emit('error', { code, message, requestType });
}

function join_host(socket, room) {
  if (room.host !== null) {
    const older = room.host;
    older.data.room = null;
    older.emit('host_replaced', {});
    older.disconnect(true);
  }
  room.host = socket;
  socket.data.room = room;
  socket.data.host = true;
  const clients = [];
  for (const seat of room.seats.values()) {
    clients.push({
      clientId: seat.clientId,
      role: 'player',
      meta: seat.meta,
      connected: seat.socket !== null,
    });
  }
  socket.emit('handshake_response', {
    status: 'success',
    roomCode: room.code,
    role: 'host',
    clientId: room.hostClientId,
    gameState: room.state === undefined ? {} : room.state,
    clients,
    polls: [],
  });
}

function join_player(socket, room, msg) {
  let seat;
  let reconnected = false;
  if (msg.clientId !== undefined && msg.clientId !== null) {
    seat = room.seats.get(msg.clientId);
    if (seat === undefined) {
      return refuse_handshake(socket, 'seat_not_found', 'no seat with this clientId');
    }
    if (msg.seatToken !== seat.token) {
      return refuse_handshake(socket, 'wrong_seat_token', 'wrong seat token');
    }
    if (seat.socket !== null) {
      const older = seat.socket;
      older.data.room = null;
      older.emit('seat_reclaimed', {});
      older.disconnect(true);
    }
    if (is_object(msg.meta)) seat.meta = msg.meta;
    reconnected = true;
  } else {
    seat = {
      clientId: 'p_' + secret(),
      token: secret(),
      meta: is_object(msg.meta) ? msg.meta : null,
      socket: null,
    };
    room.seats.set(seat.clientId, seat);
  }
  seat.socket = socket;
  socket.data.room = room;
  socket.data.seat = seat;
  socket.join(room.code);
  socket.emit('handshake_response', {
    status: 'success',
    roomCode: room.code,
    role: 'player',
    clientId: seat.clientId,
    seatToken: seat.token,
    gameState: room.state === undefined ? {} : room.state,
    playerState: null,
  });
  if (room.host !== null) {
    room.host.emit('client_joined', {
      clientId: seat.clientId,
      role: 'player',
      meta: seat.meta,
      reconnected,
    });
  }
}

io.on('connection', (socket) => {
  socket.data.room = null;
  socket.data.host = false;
  socket.data.seat = null;
  socket.data.handshaken = false;

  socket.on('handshake', (msg) => {
    if (socket.data.handshaken) {
      return send_error(socket, 'already_joined', 'this connection has joined', 'handshake');
    }
    socket.data.handshaken = true;
    if (!is_object(msg) || typeof msg.roomCode !== 'string') {
      return refuse_handshake(socket, 'bad_request', "field 'roomCode' must be a string");
    }
    const room = rooms.get(msg.roomCode);
    if (room === undefined) return refuse_handshake(socket, 'room_not_found', 'no such room');
    if (msg.role === 'host') {
      if (msg.hostKey !== room.hostKey) {
        return refuse_handshake(socket, 'wrong_host_key', 'wrong host key');
      }
      return join_host(socket, room);
    }
    if (msg.role === 'player') return join_player(socket, room, msg);
    refuse_handshake(socket, 'bad_request', "field 'role' must be host or player here");
  });

  socket.on('set_game_state', (msg) => {
    const room = socket.data.room;
    if (room === null) return send_error(socket, 'not_joined', 'join first', 'set_game_state');
    if (!socket.data.host) {
      return send_error(socket, 'forbidden', 'only the host sets the game state', 'set_game_state');
    }
    if (!is_object(msg) || !is_object(msg.state)) {
      return send_error(socket, 'bad_request', "field 'state' must be an object", 'set_game_state');
    }
    room.state = msg.state;
    io.to(room.code).emit('game_state', { state: msg.state });
  });

  socket.on('message_to_host', (msg) => {
    const room = socket.data.room;
    if (room === null) return send_error(socket, 'not_joined', 'join first', 'message_to_host');
    if (socket.data.host) {
      return send_error(socket, 'forbidden', 'the host has no host', 'message_to_host');
    }
    if (!is_object(msg) || !('message' in msg)) {
      return send_error(socket, 'bad_request', "field 'message' is required", 'message_to_host');
    }
    if (room.host === null) return;  // no host queue here
    room.host.emit('client_message', {
      clientId: socket.data.seat.clientId,
      role: 'player',
      message: msg.message,
    });
  });

  socket.on('disconnect', () => {
    const room = socket.data.room;
    if (room === null) return;
    socket.data.room = null;
    if (socket.data.host) {
      if (room.host === socket) room.host = null;
      return;
    }
    const seat = socket.data.seat;
    if (seat.socket !== socket) return;
    seat.socket = null;  // the seat is kept for a reclaim
    if (room.host !== null) {
      room.host.emit('client_disconnected', { clientId: seat.clientId, role: 'player' });
    }
  });
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

server.listen(args.port, '127.0.0.1', () => {
  const port = server.address().port;
  if (args.portFile !== '') {
    // Readers never see a partial file.
    fs.writeFileSync(args.portFile + '.tmp', port + '\n');
    fs.renameSync(args.portFile + '.tmp', args.portFile);
  }
  process.stderr.write(`socketio bench server (pid ${process.pid}) on 127.0.0.1:${port}\n`);
});
