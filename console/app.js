// partyd console: dashboard, rooms and inspector, WebSocket playground. One ES module, no build
// step. Served by partyd under a strict CSP (no inline script or style, no eval): the DOM is built
// with createElement/textContent, styles come from style.css, charts from the vendored uPlot.
//
// The admin token lives in sessionStorage only and travels as `Authorization: Bearer <token>`.

const TOKEN_KEY = 'partyd.adminToken';
const HISTORY_SECONDS = 300;
const ROOMS_REFRESH_MS = 3000;
const INSPECT_REFRESH_MS = 2000;
const TIMER_TICK_MS = 250;
const LOG_MAX = 500;

// Messages a person would start from, per game, as written in docs/protocol/<game>.md.
const TEMPLATES = {
  relay: [
    ['handshake (host)', { type: 'handshake', roomCode: 'K7MNPQ', role: 'host', hostKey: 'the host key from POST /api/rooms' }],
    ['handshake (player)', { type: 'handshake', roomCode: 'K7MNPQ', role: 'player', password: 'secret', meta: { name: 'Alice' } }],
    ['handshake (audience)', { type: 'handshake', roomCode: 'K7MNPQ', role: 'audience' }],
    ['set_game_state (host)', { type: 'set_game_state', state: { round: 3, scores: { p_x: 10 } } }],
    ['set_player_state (host)', { type: 'set_player_state', clientId: 'p_...', state: { hand: ['c1', 'c2'] } }],
    ['message_to_host', { type: 'message_to_host', message: { move: 'e4' } }],
    ['poll_start (host)', { type: 'poll_start', pollId: 'q1', pollType: 'single_choice', question: 'Best colour?', options: ['Red', 'Blue'] }],
    ['leave', { type: 'leave' }],
  ],
  quiz: [
    ['lobby:create', { type: 'lobby:create', version: '1.0', settings: { rounds: 5, secondsPerQuestion: 15, pack: 'en-de-basics' } }],
    ['lobby:join', { type: 'lobby:join', version: '1.0', code: 'K7QM2X' }],
    ['lobby:start (host)', { type: 'lobby:start' }],
    ['game:answer', { type: 'game:answer', questionId: 'g1q3', optionIndex: 2, clientMsgId: 'a-17' }],
    ['lobby:leave', { type: 'lobby:leave' }],
  ],
  mafia: [
    ['auth:identify', { type: 'auth:identify', payload: { username: 'Ann' } }],
    ['room:create', { type: 'room:create', payload: { isPublic: false, maxPlayers: 8 } }],
    ['room:join', { type: 'room:join', payload: { roomCode: 'K7QMAF' } }],
    ['room:ready', { type: 'room:ready' }],
    ['room:start (host)', { type: 'room:start' }],
    ['chat:send', { type: 'chat:send', payload: { message: 'hello' } }],
    ['matchmaking:join', { type: 'matchmaking:join' }],
    ['room:leave', { type: 'room:leave' }],
  ],
  brainrot: [
    ['CREATE_ROOM', {
      type: 'CREATE_ROOM',
      payload: {
        senders: [
          { sender_id: 's1', name: 'Ann', active: true, reels_count: 2 },
          { sender_id: 's2', name: 'Bob', active: true, reels_count: 1 },
        ],
        rounds: [{ round_id: 'r1', items: [{ item_id: 'a', reel: { reel_id: 'x1', url: 'https://example.com/reel' }, true_sender_ids: ['s1'] }] }],
        round_order: ['r1'],
      },
    }],
    ['JOIN_ROOM', { type: 'JOIN_ROOM', payload: { code: 'K7MNPQ2X', device_id: 'dev-1' } }],
    ['STATE_SYNC', { type: 'STATE_SYNC', payload: { code: 'K7MNPQ2X', device_id: 'dev-1' } }],
    ['TAKE_PLAYER', { type: 'TAKE_PLAYER', payload: { code: 'K7MNPQ2X', player_id: 'p_s1', device_id: 'dev-1' } }],
    ['START_GAME (master)', { type: 'START_GAME', payload: { code: 'K7MNPQ2X', master_key: 'the master_key of ROOM_CREATED' } }],
  ],
  alias: [
    ['CREATE_ROOM', { type: 'CREATE_ROOM', version: '1.0', payload: { hostName: 'Host', maxPlayers: 10, roundDurationSec: 60 } }],
    ['JOIN_ROOM', { type: 'JOIN_ROOM', roomId: 'ABC123', version: '1.0', payload: { playerName: 'Ann' } }],
    ['START_TEAM_SETUP (host)', { type: 'START_TEAM_SETUP', payload: { numTeams: 2 } }],
    ['JOIN_TEAM', { type: 'JOIN_TEAM', payload: { teamId: 'team_1' } }],
    ['ACK', { type: 'ACK', payload: { ackId: 'ack_1', status: 'received' } }],
    ['LEAVE_ROOM', { type: 'LEAVE_ROOM' }],
  ],
};

const HINTS = {
  relay: 'Create a room first (POST /api/rooms); the first frame is a handshake with its code.',
  quiz: 'The upgrade needs a signed token (?token=<jwt>); a server without a key takes ?name=Ann instead.',
  mafia: 'Identify first (auth:identify), then create or join a room.',
  brainrot: 'The first frame creates a room (CREATE_ROOM) or names one by payload.code.',
  alias: 'The first frame is CREATE_ROOM or JOIN_ROOM; frames asking for an ACK are resent until answered.',
};

// ---------------------------------------------------------------------------------------------
// Small helpers

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const show = (el, on = true) => el.classList.toggle('hidden', !on);

function fmtInt(n) {
  return typeof n === 'number' && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

function fmtRate(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

function fmtMs(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  return `${n.toFixed(n < 1 ? 3 : n < 10 ? 2 : 1)} ms`;
}

function fmtDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '–';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${ss}s`;
  return `${ss}s`;
}

// Remaining time of a timer, to a tenth of a second: "4m 59.8s", "12.3s", "-0.4s".
function fmtRemaining(ms) {
  const neg = ms < 0;
  const tenths = Math.floor(Math.abs(ms) / 100);
  const m = Math.floor(tenths / 600);
  const s = ((tenths % 600) / 10).toFixed(1);
  return `${neg ? '-' : ''}${m ? `${m}m ` : ''}${s}s`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

function fmtClock(ms, millis = false) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return millis ? `${t}.${pad(d.getMilliseconds(), 3)}` : t;
}

function fmtDateTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return sameDay ? fmtClock(ms) : `${date} ${fmtClock(ms)}`;
}

function fmtAgo(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return 'just now';
  return `${fmtDuration(ms / 1000)} ago`;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// Keeps keyboard focus on the element with the same `data-key` across a re-render of `container`.
function keepFocus(container, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : undefined;
  render();
  if (key !== undefined) {
    const again = [...container.querySelectorAll('[data-key]')].find((el) => el.dataset.key === key);
    again?.focus();
  }
}

// ---------------------------------------------------------------------------------------------
// State

const S = {
  token: null,
  view: null,
  session: null, // AbortController of the signed-in session (stream, polls)
  games: [],
  stats: null,
  prevStats: null,
  serverOffset: 0, // server clock minus local clock, ms
  history: { t: [], in: [], out: [], conns: [], p99: [] },
  charts: null,
  chartsDirty: false,
  rooms: [],
  roomsTimer: 0,
  sort: { key: 'roomCode', dir: 1 },
  insp: null,
  ws: null,
  noticeTimer: 0,
};

function notice(text, bad = false) {
  const el = $('notice');
  el.textContent = text;
  el.classList.toggle('bad', bad);
  show(el, true);
  clearTimeout(S.noticeTimer);
  S.noticeTimer = setTimeout(() => show(el, false), bad ? 8000 : 4000);
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

class SignedOut extends Error {}

async function api(path, { method = 'GET', body, raw = false, token = S.token, signal } = {}) {
  if (!token) throw new SignedOut();
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    signal: signal ?? S.session?.signal,
  });
  if (res.status === 401) {
    if (token === S.token) signOut('wrong token');
    throw new ApiError(401, 'unauthorized', 'wrong token');
  }
  if (!res.ok) {
    let code;
    let message;
    try {
      const j = await res.json();
      code = j.error;
      message = j.message;
    } catch {
      // not JSON
    }
    throw new ApiError(res.status, code, message ? `${message} (HTTP ${res.status})` : `HTTP ${res.status}${code ? ` ${code}` : ''}`);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// Errors of background work: a sign-out or an abort is not worth a word.
function quiet(err) {
  return err instanceof SignedOut || err?.name === 'AbortError' || err?.status === 401 || !S.token;
}

// ---------------------------------------------------------------------------------------------
// Sign-in

function showSignIn(message) {
  for (const v of document.querySelectorAll('.view')) show(v, v.id === 'view-signin');
  show($('nav'), false);
  show($('sign-out'), false);
  const err = $('signin-error');
  err.textContent = message || '';
  show(err, Boolean(message));
  $('signin-token').value = '';
  $('signin-token').focus();
  document.title = 'Sign in · partyd console';
}

async function onSignIn(ev) {
  ev.preventDefault();
  const input = $('signin-token');
  const token = input.value.trim();
  const err = $('signin-error');
  if (!token) {
    err.textContent = 'Enter the admin token.';
    show(err, true);
    return;
  }
  $('signin-submit').disabled = true;
  try {
    // Any admin call proves the token; the room list exists in every partyd version.
    await api('/api/rooms', { token, signal: AbortSignal.timeout(10000) });
  } catch (e) {
    $('signin-submit').disabled = false;
    if (e.status === 401) showSignIn('wrong token');
    else if (e.status === 403) showSignIn('The admin API is disabled: partyd was started without --admin-token.');
    else showSignIn(`Could not reach partyd: ${e.message}`);
    return;
  }
  $('signin-submit').disabled = false;
  sessionStorage.setItem(TOKEN_KEY, token);
  startSession(token);
}

function startSession(token) {
  S.token = token;
  S.session = new AbortController();
  show($('view-signin'), false);
  show($('nav'), true);
  show($('sign-out'), true);
  show($('signin-error'), false);
  runStream(S.session.signal);
  loadGames();
  route();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  const wasSignedIn = S.token !== null;
  S.token = null;
  S.session?.abort();
  S.session = null;
  stopRooms();
  stopInspector();
  pgClose();
  S.stats = null;
  S.prevStats = null;
  S.history = { t: [], in: [], out: [], conns: [], p99: [] };
  S.chartsDirty = true;
  S.view = null;
  if (wasSignedIn || message) showSignIn(message);
}

// ---------------------------------------------------------------------------------------------
// Routing: #dashboard, #rooms, #room/<code>, #playground

function route() {
  if (!S.token) {
    showSignIn();
    return;
  }
  const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
  let view = 'dashboard';
  let arg;
  if (hash === 'rooms' || hash === 'playground' || hash === 'dashboard') view = hash;
  else if (hash.startsWith('room/') && hash.length > 5) {
    view = 'inspector';
    arg = hash.slice(5);
  }
  const changed = view !== S.view || (view === 'inspector' && arg !== S.insp?.code);
  S.view = view;
  for (const v of document.querySelectorAll('.view')) show(v, v.id === `view-${view}`);
  for (const a of $('nav').querySelectorAll('a')) {
    const current = a.dataset.view === view || (view === 'inspector' && a.dataset.view === 'rooms');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view === 'rooms') startRooms();
  else stopRooms();
  if (view === 'inspector') {
    if (changed) startInspector(arg);
  } else stopInspector();
  if (view === 'dashboard') {
    ensureCharts();
    renderCharts();
  }
  const titles = { dashboard: 'Dashboard', rooms: 'Rooms', inspector: `Room ${arg}`, playground: 'Playground' };
  document.title = `${titles[view]} · partyd console`;
  if (changed) $(`${view}-title`)?.focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------------------------
// Dashboard: GET /api/stats/stream, text/event-stream read through fetch() (EventSource cannot
// send the Authorization header).

function setStreamStatus(text, cls) {
  const el = $('stream-status');
  el.textContent = text;
  el.className = `pill ${cls || ''}`;
}

async function runStream(signal) {
  let backoff = 1000;
  while (!signal.aborted) {
    try {
      setStreamStatus('connecting', 'warn');
      const res = await fetch('/api/stats/stream', {
        headers: { Authorization: `Bearer ${S.token}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal,
      });
      if (res.status === 401) {
        signOut('wrong token');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setStreamStatus('live', 'ok');
      backoff = 1000;
      await readEventStream(res.body, (event, data) => {
        if (event !== 'stats' && event !== 'message') return;
        try {
          onStats(JSON.parse(data));
        } catch (e) {
          console.warn('stats event is not JSON:', e.message);
        }
      });
      throw new Error('the stream ended');
    } catch (e) {
      if (signal.aborted) return;
      setStreamStatus('reconnecting', 'bad');
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 10000);
    }
  }
}

// The event-stream format (HTML's server-sent events): lines `field: value`, a blank line ends an
// event; `data` lines join with "\n"; lines starting with ':' are comments; CR, LF or CRLF.
async function readEventStream(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let event = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buf);
      // A lone CR at the end of the buffer may be the first half of a CRLF: wait for more.
      if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break;
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === '') {
        if (data.length) onEvent(event || 'message', data.join('\n'));
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'event') event = val;
      else if (field === 'data') data.push(val);
    }
  }
}

function sumValues(obj) {
  let n = 0;
  for (const v of Object.values(obj || {})) if (typeof v === 'number') n += v;
  return n;
}

function onStats(s) {
  if (!S.token || !s || typeof s !== 'object') return;
  const prev = S.stats;
  S.prevStats = prev;
  S.stats = s;
  if (typeof s.time === 'number') S.serverOffset = s.time - Date.now();

  let rateIn = null;
  let rateOut = null;
  if (prev && typeof s.time === 'number' && typeof prev.time === 'number' && s.time > prev.time) {
    const dt = (s.time - prev.time) / 1000;
    rateIn = Math.max(0, (s.messagesIn - prev.messagesIn) / dt);
    rateOut = Math.max(0, (s.messagesOut - prev.messagesOut) / dt);
    if (!Number.isFinite(rateIn)) rateIn = null;
    if (!Number.isFinite(rateOut)) rateOut = null;
  }

  setTile('stat-rate-in', fmtRate(rateIn), rateIn ?? 0);
  setTile('stat-rate-out', fmtRate(rateOut), rateOut ?? 0);
  setTile('stat-connections', fmtInt(s.connectionsOpen), s.connectionsOpen);
  setTile('stat-rooms', fmtInt(sumValues(s.rooms)), sumValues(s.rooms));
  const lat = s.stepLatencyMs || {};
  setTile('stat-latency', `${fmtMs(lat.p50).replace(' ms', '')} / ${fmtMs(lat.p99)}`, lat.p99);
  setTile('stat-inbox', fmtInt(s.inboxRejected), s.inboxRejected, s.inboxRejected > 0 ? 'warn' : '');
  setTile('stat-slow', fmtInt(s.slowConsumers), s.slowConsumers, s.slowConsumers > 0 ? 'warn' : '');
  setTile('stat-ratelimited', fmtInt(s.rateLimited), s.rateLimited, s.rateLimited > 0 ? 'warn' : '');
  setTile('stat-uptime', fmtDuration(s.uptimeSeconds), s.uptimeSeconds);

  const st = s.store || {};
  const storeClass = { ok: 'ok', degraded: 'bad', not_persisted: 'warn' }[st.status] || '';
  setTile('stat-store', st.status || '–', st.status, storeClass);
  const lastWrite = st.lastWriteAgoMs === null || st.lastWriteAgoMs === undefined ? 'no write yet' : `last write ${fmtAgo(st.lastWriteAgoMs)}`;
  $('stat-store-detail').textContent = `${st.target ?? '?'} · ${fmtInt(st.pendingSnapshots)} pending · ${lastWrite}`;

  renderRoomsByGame(s.rooms || {});
  renderConnectionsByGame(s.connections || {});

  if (typeof s.time === 'number') {
    const H = S.history;
    const t = s.time / 1000;
    H.t.push(t);
    H.in.push(rateIn);
    H.out.push(rateOut);
    H.conns.push(s.connectionsOpen ?? null);
    H.p99.push(typeof lat.p99 === 'number' ? lat.p99 : null);
    let drop = 0;
    while (drop < H.t.length && H.t[drop] < t - HISTORY_SECONDS) drop++;
    if (drop) for (const k of Object.keys(H)) H[k].splice(0, drop);
    S.chartsDirty = true;
    if (S.view === 'dashboard') renderCharts();
  }
}

function setTile(id, text, value, cls = '') {
  const el = $(id);
  el.textContent = text;
  el.dataset.value = value === undefined || value === null ? '' : String(value);
  el.className = `tile-value ${cls}`;
}

function renderRoomsByGame(rooms) {
  const body = $('rooms-by-game');
  const names = Object.keys(rooms).sort();
  body.replaceChildren(
    ...names.map((g) => h('tr', { 'data-test': 'rooms-by-game-row', 'data-game': g },
      h('td', { text: g }), h('td', { class: 'num', text: fmtInt(rooms[g]) }))),
  );
  if (!names.length) body.append(h('tr', {}, h('td', { colspan: 2, class: 'muted', text: 'no games' })));
}

function renderConnectionsByGame(conns) {
  const order = ['host', 'player', 'audience'];
  const roles = new Set();
  for (const byRole of Object.values(conns)) for (const r of Object.keys(byRole || {})) roles.add(r);
  const cols = [...order.filter((r) => roles.has(r)), ...[...roles].filter((r) => !order.includes(r)).sort()];
  $('connections-by-game-head').replaceChildren(h('tr', {},
    h('th', { scope: 'col', text: 'Game' }),
    ...cols.map((r) => h('th', { scope: 'col', class: 'num', text: r })),
    h('th', { scope: 'col', class: 'num', text: 'total' })));
  const names = Object.keys(conns).sort();
  $('connections-by-game').replaceChildren(...names.map((g) => {
    const byRole = conns[g] || {};
    return h('tr', { 'data-test': 'connections-row', 'data-game': g },
      h('td', { text: g }),
      ...cols.map((r) => h('td', { class: 'num', text: byRole[r] === undefined ? '' : fmtInt(byRole[r]) })),
      h('td', { class: 'num', text: fmtInt(sumValues(byRole)) }));
  }));
}

// uPlot charts of the last five minutes; made once the dashboard is visible (uPlot needs a width).
function ensureCharts() {
  if (S.charts || typeof window.uPlot !== 'function') return;
  const el = $('chart-messages');
  if (!el.clientWidth) return;
  const axes = [{}, { size: 56 }];
  const y0 = { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] };
  const make = (container, series) => new window.uPlot({
    width: container.clientWidth,
    height: 170,
    series: [{}, ...series],
    axes,
    scales: { x: { time: true }, y: y0 },
    cursor: { drag: { x: false, y: false } },
  }, [[], ...series.map(() => [])], container);
  S.charts = {
    messages: make(el, [
      { label: 'in/s', stroke: '#2f5fd0', width: 1.5, value: (u, v) => fmtRate(v) },
      { label: 'out/s', stroke: '#1e7b34', width: 1.5, value: (u, v) => fmtRate(v) },
    ]),
    connections: make($('chart-connections'), [{ label: 'open', stroke: '#8a4bd1', width: 1.5, value: (u, v) => fmtInt(v) }]),
    latency: make($('chart-latency'), [{ label: 'p99 ms', stroke: '#b3261e', width: 1.5, value: (u, v) => (v === null ? '–' : fmtMs(v)) }]),
  };
  S.chartsDirty = true;
}

function renderCharts() {
  if (!S.charts || !S.chartsDirty) return;
  const H = S.history;
  S.charts.messages.setData([H.t.slice(), H.in.slice(), H.out.slice()]);
  S.charts.connections.setData([H.t.slice(), H.conns.slice()]);
  S.charts.latency.setData([H.t.slice(), H.p99.slice()]);
  S.chartsDirty = false;
}

function resizeCharts() {
  if (!S.charts || S.view !== 'dashboard') return;
  for (const [name, id] of [['messages', 'chart-messages'], ['connections', 'chart-connections'], ['latency', 'chart-latency']]) {
    const w = $(id).clientWidth;
    if (w) S.charts[name].setSize({ width: w, height: 170 });
  }
}

// ---------------------------------------------------------------------------------------------
// Games (GET /api/games): the room filter and the playground.

async function loadGames() {
  try {
    const data = await api('/api/games');
    S.games = Array.isArray(data?.games) ? data.games : [];
  } catch (e) {
    if (quiet(e)) return;
    S.games = [];
    notice(`Could not list the games: ${e.message}`, true);
  }
  fillGameFilter();
  pgFillGames();
}

// ---------------------------------------------------------------------------------------------
// Rooms: GET /api/rooms every few seconds, searched, filtered and sorted here.

function startRooms() {
  if (S.roomsTimer) return;
  loadRooms();
  S.roomsTimer = setInterval(loadRooms, ROOMS_REFRESH_MS);
}

function stopRooms() {
  clearInterval(S.roomsTimer);
  S.roomsTimer = 0;
}

async function loadRooms() {
  try {
    const data = await api('/api/rooms');
    S.rooms = (data?.rooms || []).map((r) => ({ ...r, connectionsTotal: sumValues(r.connections) }));
    fillGameFilter();
    renderRooms();
  } catch (e) {
    if (!quiet(e)) notice(`Could not list the rooms: ${e.message}`, true);
  }
}

function fillGameFilter() {
  const sel = $('rooms-game');
  const names = new Set(S.games.map((g) => g.name));
  for (const r of S.rooms) if (r.game) names.add(r.game);
  const have = [...sel.options].map((o) => o.value).filter(Boolean);
  const want = [...names].sort();
  if (have.join() === want.join()) return;
  const current = sel.value;
  sel.replaceChildren(h('option', { value: '', text: 'All games' }), ...want.map((n) => h('option', { value: n, text: n })));
  sel.value = want.includes(current) ? current : '';
}

function renderRooms() {
  const q = $('rooms-search').value.trim().toUpperCase();
  const game = $('rooms-game').value;
  const { key, dir } = S.sort;
  const rows = S.rooms
    .filter((r) => (!q || String(r.roomCode).toUpperCase().includes(q)) && (!game || r.game === game))
    .sort((a, b) => {
      const x = a[key];
      const y = b[key];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
      return c * dir || String(a.roomCode).localeCompare(String(b.roomCode));
    });
  for (const th of $('rooms-head').children) {
    if (th.dataset.sort === key) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
  const now = Date.now() + S.serverOffset;
  const body = $('rooms-body');
  keepFocus(body, () => {
    body.replaceChildren(...rows.map((r) => {
      const code = String(r.roomCode);
      const roles = Object.entries(r.connections || {}).filter(([, n]) => n > 0).map(([role, n]) => `${role} ${n}`).join(', ');
      return h('tr', { 'data-test': 'room-row', 'data-code': code, onclick: (ev) => { if (ev.target.tagName !== 'A') location.hash = `#room/${encodeURIComponent(code)}`; } },
        h('td', {}, h('a', { href: `#room/${encodeURIComponent(code)}`, 'data-test': 'room-link', 'data-key': code, text: code })),
        h('td', { text: r.game ?? '' }),
        h('td', { class: 'num', text: roles ? `${fmtInt(r.connectionsTotal)} (${roles})` : fmtInt(r.connectionsTotal) }),
        h('td', { class: 'num', text: r.seats === undefined ? '' : fmtInt(r.seats) }),
        h('td', { class: 'num', text: fmtInt(r.stateVersion) }),
        h('td', { text: fmtDateTime(r.createdAt) }),
        h('td', { text: typeof r.lastActivity === 'number' ? fmtAgo(Math.max(0, now - r.lastActivity)) : '–' }));
    }));
  });
  show($('rooms-empty'), rows.length === 0);
  $('rooms-empty').textContent = S.rooms.length ? 'No room matches.' : 'No rooms.';
  $('rooms-count').textContent = rows.length === S.rooms.length
    ? `${S.rooms.length} room${S.rooms.length === 1 ? '' : 's'}`
    : `${rows.length} of ${S.rooms.length} rooms`;
}

function onSortClick(ev) {
  const th = ev.target.closest('th[data-sort]');
  if (!th) return;
  const key = th.dataset.sort;
  S.sort = S.sort.key === key ? { key, dir: -S.sort.dir } : { key, dir: 1 };
  renderRooms();
}

// ---------------------------------------------------------------------------------------------
// Inspector: GET /api/rooms/{code}/inspect every 2 s; timers count down every 250 ms.

function startInspector(code) {
  stopInspector();
  S.insp = { code, data: null, offset: 0, poll: 0, tick: 0, gone: false, stateText: null };
  $('inspector-title').textContent = `Room ${code}`;
  show($('inspector-error'), false);
  show($('inspector-confirm'), false);
  $('inspector-close').disabled = false;
  $('inspector-snapshot').disabled = false;
  $('inspector-facts').replaceChildren();
  $('inspector-state').textContent = 'loading…';
  $('inspector-connections').replaceChildren();
  $('inspector-timers').replaceChildren();
  $('inspector-inputs').replaceChildren();
  loadInspect();
  S.insp.poll = setInterval(loadInspect, INSPECT_REFRESH_MS);
  S.insp.tick = setInterval(tickTimers, TIMER_TICK_MS);
}

function stopInspector() {
  if (!S.insp) return;
  clearInterval(S.insp.poll);
  clearInterval(S.insp.tick);
  S.insp = null;
}

function pauseInspectPoll() {
  if (S.insp) {
    clearInterval(S.insp.poll);
    S.insp.poll = 0;
  }
}

function roomPath(code, rest = '') {
  return `/api/rooms/${encodeURIComponent(code)}${rest}`;
}

async function loadInspect() {
  const insp = S.insp;
  if (!insp || insp.gone || insp.loading) return;
  insp.loading = true;
  const t0 = Date.now();
  try {
    const data = await api(roomPath(insp.code, '/inspect'));
    if (S.insp !== insp) return;
    const t1 = Date.now();
    insp.data = data;
    // The server's `now` was taken about halfway through the request.
    if (typeof data.now === 'number') insp.offset = data.now - (t0 + t1) / 2;
    renderInspect();
  } catch (e) {
    if (S.insp !== insp || quiet(e)) return;
    if (e.status === 404) {
      insp.gone = true;
      pauseInspectPoll();
      inspectorError(`Room ${insp.code} is not open: it was closed or never existed.`);
      $('inspector-close').disabled = true;
      $('inspector-snapshot').disabled = true;
    } else {
      inspectorError(`Could not inspect the room: ${e.message}`);
    }
  } finally {
    insp.loading = false;
  }
}

function inspectorError(text) {
  const el = $('inspector-error');
  el.textContent = text;
  show(el, Boolean(text));
}

function renderInspect() {
  const { data, code } = S.insp;
  show($('inspector-error'), false);
  $('inspector-title').textContent = `Room ${data.roomCode ?? code}`;
  const now = Date.now() + S.insp.offset;
  const facts = [
    ['Game', data.game],
    ['State version', fmtInt(data.stateVersion)],
    ['Created', fmtDateTime(data.createdAt)],
    ['Last activity', typeof data.lastActivity === 'number' ? `${fmtDateTime(data.lastActivity)} (${fmtAgo(Math.max(0, now - data.lastActivity))})` : '–'],
  ];
  $('inspector-facts').replaceChildren(...facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v ?? '–' })]));

  const stateText = JSON.stringify(data.state ?? null, null, 2);
  if (stateText !== S.insp.stateText) {
    $('inspector-state').textContent = stateText;
    S.insp.stateText = stateText;
  }

  const conns = Array.isArray(data.connections) ? data.connections : [];
  const cbody = $('inspector-connections');
  keepFocus(cbody, () => {
    cbody.replaceChildren(...conns.map((c) => {
      const sess = c.session;
      return h('tr', { 'data-test': 'conn-row', 'data-conn': c.conn },
        h('td', { class: 'mono', text: c.conn }),
        h('td', { text: c.role ?? '' }),
        h('td', { class: 'mono', text: c.seat ?? '–' }),
        h('td', { text: c.since ? fmtClock(c.since) : '–' }),
        h('td', { text: c.bound ? 'yes' : 'no' }),
        h('td', { class: 'num', text: fmtInt(c.outboxBytes) }),
        h('td', { class: 'mono', text: sess ? sess.sessionId : '–' }),
        h('td', { class: 'num', text: sess ? fmtInt(sess.nextSeq) : '' }),
        h('td', { text: sess ? (sess.away ? 'away' : sess.degraded ? 'degraded' : 'no') : '' }),
        h('td', {}, h('button', {
          type: 'button', class: 'secondary small', 'data-test': 'conn-disconnect', 'data-conn': c.conn,
          'data-key': `conn-${c.conn}`, 'aria-label': `Disconnect connection ${c.conn}`, text: 'Disconnect',
          onclick: () => disconnectConn(c.conn),
        })));
    }));
    if (!conns.length) cbody.append(h('tr', {}, h('td', { colspan: 10, class: 'muted', text: 'no connections' })));
  });

  const timers = (Array.isArray(data.timers) ? data.timers : []).slice().sort((a, b) => a.deadline - b.deadline);
  const tbody = $('inspector-timers');
  tbody.replaceChildren(...timers.map((t) => h('tr', { 'data-test': 'timer-row', 'data-name': t.name },
    h('td', { class: 'mono', text: t.name }),
    h('td', { text: fmtDateTime(t.deadline - S.insp.offset) }),
    h('td', { class: 'num', 'data-test': 'timer-remaining', 'data-deadline': t.deadline }))));
  if (!timers.length) tbody.append(h('tr', {}, h('td', { colspan: 3, class: 'muted', text: 'no timers' })));
  tickTimers();

  const inputs = (Array.isArray(data.recentInputs) ? data.recentInputs : []).slice().sort((a, b) => b.time - a.time);
  $('inspector-inputs').replaceChildren(...inputs.map((i) => h('tr', { 'data-test': 'input-row' },
    h('td', { text: fmtClock(i.time - S.insp.offset, true) }),
    h('td', { text: i.kind ?? '' }),
    h('td', { class: 'mono', text: i.type ?? '' }),
    h('td', { class: 'mono', text: i.conn ? i.conn : '–' }))));
  if (!inputs.length) $('inspector-inputs').append(h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'no inputs yet' })));
}

function tickTimers() {
  if (!S.insp) return;
  const now = Date.now() + S.insp.offset;
  for (const cell of $('inspector-timers').querySelectorAll('[data-test="timer-remaining"]')) {
    const left = Number(cell.dataset.deadline) - now;
    cell.textContent = fmtRemaining(left);
    cell.dataset.remainingMs = String(Math.round(left));
    cell.classList.toggle('overdue', left < 0);
  }
}

function askClose() {
  if (!S.insp || S.insp.gone) return;
  show($('inspector-confirm'), true);
  $('inspector-confirm-text').textContent = `Close room ${S.insp.code}? Its clients are told and disconnected.`;
  $('inspector-confirm-yes').focus();
}

function cancelClose() {
  show($('inspector-confirm'), false);
  $('inspector-close').focus();
}

async function confirmClose() {
  const insp = S.insp;
  if (!insp) return;
  show($('inspector-confirm'), false);
  // No poll may run into the 404 that follows the close.
  pauseInspectPoll();
  insp.gone = true;
  try {
    await api(roomPath(insp.code), { method: 'DELETE' });
    notice(`Room ${insp.code} closed.`);
    location.hash = '#rooms';
  } catch (e) {
    if (quiet(e)) return;
    insp.gone = false;
    if (S.insp === insp) insp.poll = setInterval(loadInspect, INSPECT_REFRESH_MS);
    inspectorError(`Could not close the room: ${e.message}`);
  }
}

async function disconnectConn(conn) {
  const insp = S.insp;
  if (!insp) return;
  try {
    await api(roomPath(insp.code, `/connections/${encodeURIComponent(conn)}`), { method: 'DELETE' });
    notice(`Connection ${conn} disconnected.`);
    loadInspect();
  } catch (e) {
    if (!quiet(e)) inspectorError(`Could not disconnect ${conn}: ${e.message}`);
  }
}

async function downloadSnapshot() {
  const insp = S.insp;
  if (!insp) return;
  try {
    const res = await api(roomPath(insp.code, '/snapshot'), { raw: true });
    const blob = new Blob([await res.text()], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${insp.code}-snapshot.json`, class: 'hidden' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    if (!quiet(e)) inspectorError(`Could not download the snapshot: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Playground: a WebSocket from this page to a game's path, a message box and a log of frames.

function pgFillGames() {
  const sel = $('pg-game');
  const current = sel.value;
  sel.replaceChildren(...S.games.map((g) => h('option', { value: g.name, text: g.name })));
  if (S.games.some((g) => g.name === current)) sel.value = current;
  pgOnGame();
}

function pgGame() {
  return S.games.find((g) => g.name === $('pg-game').value);
}

function pgOnGame() {
  const game = pgGame();
  $('pg-path').value = game?.wsPath ?? '';
  $('pg-hint').textContent = game ? HINTS[game.name] ?? '' : 'No games listed.';
  const list = TEMPLATES[game?.name] ?? [['(empty)', { type: '' }]];
  $('pg-template').replaceChildren(...list.map(([label], i) => h('option', { value: String(i), text: label })));
  pgOnTemplate();
}

function pgOnTemplate() {
  const list = TEMPLATES[pgGame()?.name] ?? [['(empty)', { type: '' }]];
  const entry = list[Number($('pg-template').value) || 0];
  if (entry) $('pg-message').value = JSON.stringify(entry[1], null, 2);
  show($('pg-error'), false);
}

function pgSetStatus(state) {
  const el = $('pg-status');
  el.textContent = state;
  el.dataset.state = state;
  $('pg-send').disabled = state !== 'open';
  $('pg-close').disabled = state === 'closed';
}

function pgLog(dir, text) {
  const log = $('pg-log');
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const sign = { in: '←', out: '→', event: '•' }[dir];
  const label = { in: 'received', out: 'sent', event: 'event' }[dir];
  log.append(h('li', { 'data-test': 'pg-log-entry', 'data-dir': dir },
    h('span', { class: 't', text: fmtClock(Date.now(), true) }),
    h('span', { class: 'dir', title: label, 'aria-label': label, text: sign }),
    h('span', { class: 'body', text })));
  while (log.children.length > LOG_MAX) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function pgConnect() {
  pgClose();
  let path = $('pg-path').value.trim() || pgGame()?.wsPath || '/';
  if (!path.startsWith('/')) path = `/${path}`;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (e) {
    pgLog('event', `cannot open ${url}: ${e.message}`);
    return;
  }
  S.ws = ws;
  pgSetStatus('connecting');
  pgLog('event', `connecting to ${url}`);
  ws.addEventListener('open', () => {
    if (S.ws !== ws) return;
    pgSetStatus('open');
    pgLog('event', 'open');
  });
  ws.addEventListener('message', (ev) => {
    const text = typeof ev.data === 'string' ? ev.data : `[binary frame, ${ev.data.size ?? ev.data.byteLength} bytes]`;
    pgLog('in', text);
  });
  ws.addEventListener('error', () => {
    if (S.ws === ws) pgLog('event', 'error (see the close code)');
  });
  ws.addEventListener('close', (ev) => {
    pgLog('event', `closed: code ${ev.code}${ev.reason ? ` ${ev.reason}` : ''}${ev.wasClean ? '' : ' (not clean)'}`);
    if (S.ws === ws) {
      S.ws = null;
      pgSetStatus('closed');
    }
  });
}

function pgClose() {
  const ws = S.ws;
  if (!ws) return;
  if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
    pgSetStatus('closing');
    ws.close(1000, 'closed from the console');
  }
}

function pgSend() {
  const text = $('pg-message').value.trim();
  const err = $('pg-error');
  try {
    JSON.parse(text);
  } catch (e) {
    err.textContent = `Not valid JSON: ${e.message}`;
    show(err, true);
    return;
  }
  show(err, false);
  if (!S.ws || S.ws.readyState !== WebSocket.OPEN) {
    err.textContent = 'Not connected.';
    show(err, true);
    return;
  }
  S.ws.send(text);
  pgLog('out', text);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function init() {
  $('signin-form').addEventListener('submit', onSignIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('rooms-search').addEventListener('input', renderRooms);
  $('rooms-game').addEventListener('change', renderRooms);
  $('rooms-refresh').addEventListener('click', loadRooms);
  $('rooms-head').addEventListener('click', onSortClick);
  $('inspector-close').addEventListener('click', askClose);
  $('inspector-confirm-yes').addEventListener('click', confirmClose);
  $('inspector-confirm-no').addEventListener('click', cancelClose);
  $('inspector-confirm').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') cancelClose(); });
  $('inspector-snapshot').addEventListener('click', downloadSnapshot);
  $('pg-game').addEventListener('change', pgOnGame);
  $('pg-template').addEventListener('change', pgOnTemplate);
  $('pg-connect').addEventListener('click', pgConnect);
  $('pg-close').addEventListener('click', pgClose);
  $('pg-send').addEventListener('click', pgSend);
  $('pg-clear').addEventListener('click', () => $('pg-log').replaceChildren());
  $('pg-message').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      pgSend();
    }
  });
  window.addEventListener('hashchange', route);
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(resizeCharts, 150);
  });

  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) startSession(token);
  else showSignIn();
}

init();
