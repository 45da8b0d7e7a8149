// wt.js: WebTransport with a WebSocket fallback behind one session API.
// Served by the Go package github.com/wirespeed/wirespeed/wt (wt.Script);
// the fallback's wire format is specified in that package's doc.
//
//   import {connect} from '/wt.js';
//   const s = await connect('https://example.com/wt', {serverCertificateHashes: ['ab12…']});
//   s.transport       // 'webtransport' or 'websocket'
//   s.fallbackReason  // '', 'unsupported', 'timeout', 'failed', 'forced' or 'webtransport-broken'
//   const {readable, writable} = await s.createBidirectionalStream();
//   const w = await s.createUnidirectionalStream();      // a WritableStream
//   s.incomingBidirectionalStreams / s.incomingUnidirectionalStreams  // ReadableStreams
//   s.sendDatagram(bytes); s.datagrams                   // a ReadableStream of Uint8Array
//   s.close({closeCode: 4000, reason: 'bye'}); await s.closed  // {closeCode, reason}

const SUBPROTOCOL = 'wirespeed-wt.v1';
const HELLO = 0, OPEN = 1, DATA = 2, FIN = 3, RESET = 4, STOP = 5, CREDIT = 6, MAXSTREAMS = 7, DGRAM = 8, CLOSE = 9;
const WINDOW = 256 << 10, MAXFRAME = 16 << 10, MAXDGRAM = 1100, MAXSTREAMS_DEFAULT = 100;

function hexBytes(h) {
  if (h instanceof Uint8Array) return h;
  const b = new Uint8Array(h.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(h.substr(2 * i, 2), 16);
  return b;
}

// connect opens a session to url (https://…, where the Go wt.Server is
// mounted). Options: serverCertificateHashes (hex strings or Uint8Arrays,
// SHA-256 of development certificates), timeout (ms for the WebTransport
// attempt, default 3000), forceFallback (skip WebTransport),
// datagramMaxAge (ms an outgoing WebTransport datagram may wait, default
// 1000), brokenBackoff (ms: after a WebTransport attempt to an origin
// timed out, as when UDP is blocked, connect goes straight to the
// fallback for this long, remembered in localStorage, doubling on each
// further timeout up to 48 hours, with fallbackReason
// 'webtransport-broken'; a success forgets it; default 300000, 0 turns
// it off). Only timeouts are remembered: a browser does not say whether a
// failed attempt was the server's refusal (a 503 at its session limit).
export async function connect(url, options = {}) {
  const timeout = options.timeout ?? 3000;
  const backoff = options.brokenBackoff ?? 300000;
  const key = 'wt-broken:' + new URL(url).host;
  let reason = 'forced', error = '';
  if (!options.forceFallback) {
    const broken = backoff > 0 ? loadBroken(key) : null;
    if (typeof WebTransport === 'undefined') {
      reason = 'unsupported';
    } else if (broken && Date.now() < broken.until) {
      reason = 'webtransport-broken';
    } else {
      const wtOpts = {};
      if (options.serverCertificateHashes) {
        wtOpts.serverCertificateHashes = options.serverCertificateHashes.map(h => ({algorithm: 'sha-256', value: hexBytes(h)}));
      }
      let t;
      try {
        t = new WebTransport(url, wtOpts);
        let timer;
        const timedOut = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), timeout); });
        try {
          await Promise.race([t.ready, timedOut]);
        } finally {
          clearTimeout(timer);
        }
        if (broken) storeBroken(key, null);
        return wrapWebTransport(t, options);
      } catch (e) {
        reason = e && e.message === 'timeout' ? 'timeout' : 'failed';
        error = String(e && e.message || e);
        if (reason === 'timeout' && backoff > 0) {
          const failures = broken ? broken.failures : 0;
          storeBroken(key, {until: Date.now() + Math.min(backoff * 2 ** Math.min(failures, 30), 48 * 3600e3), failures: failures + 1});
        }
        try { t && t.close(); } catch (_) {}
        if (t) t.closed.catch(() => {});
      }
    }
  }
  const s = await openFallback(url, reason);
  s.fallbackError = error;
  return s;
}

// loadBroken and storeBroken keep an origin's WebTransport backoff in
// localStorage, so that it outlives the page; storage may be unavailable
// (a sandboxed frame, privacy settings), which only loses the memory.
function loadBroken(key) {
  try {
    const v = JSON.parse(localStorage.getItem(key));
    return v && typeof v.until === 'number' && typeof v.failures === 'number' ? v : null;
  } catch (_) {
    return null;
  }
}

function storeBroken(key, v) {
  try {
    if (v) localStorage.setItem(key, JSON.stringify(v)); else localStorage.removeItem(key);
  } catch (_) {}
}

function wrapWebTransport(t, options) {
  // Stale datagrams are dropped before sending, as the Go side does.
  t.datagrams.outgoingMaxAge = options.datagramMaxAge ?? 1000;
  const writer = t.datagrams.writable.getWriter();
  return {
    transport: 'webtransport',
    fallbackReason: '',
    fallbackError: '',
    createBidirectionalStream: () => t.createBidirectionalStream(),
    createUnidirectionalStream: () => t.createUnidirectionalStream(),
    incomingBidirectionalStreams: t.incomingBidirectionalStreams,
    incomingUnidirectionalStreams: t.incomingUnidirectionalStreams,
    datagrams: t.datagrams.readable,
    maxDatagramSize: t.datagrams.maxDatagramSize,
    sendDatagram: (b) => { writer.write(b).catch(() => {}); },
    close: (info = {}) => t.close({closeCode: info.closeCode ?? 0, reason: info.reason ?? ''}),
    closed: t.closed.then(
      (i) => ({closeCode: i.closeCode ?? 0, reason: i.reason ?? ''}),
      (e) => ({closeCode: e && e.closeCode != null ? e.closeCode : -1, reason: String(e && e.message || e)})),
  };
}

function u32(v) { return [v >>> 24 & 255, v >>> 16 & 255, v >>> 8 & 255, v & 255]; }
function frame(type, ...parts) {
  let n = 1;
  for (const p of parts) n += p.length;
  const b = new Uint8Array(n);
  b[0] = type;
  let o = 1;
  for (const p of parts) { b.set(p, o); o += p.length; }
  return b;
}

function openFallback(url, reason) {
  const u = new URL(url);
  u.protocol = u.protocol === 'http:' ? 'ws:' : 'wss:';
  u.searchParams.set('wt-fallback', reason);
  const ws = new WebSocket(u.href, SUBPROTOCOL);
  ws.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error('wt: WebSocket fallback failed'));
    ws.onopen = () => {
      ws.onerror = null;
      resolve(new Mux(ws, reason));
    };
  });
}

class Mux {
  constructor(ws, reason) {
    this.ws = ws;
    this.transport = 'websocket';
    this.fallbackReason = reason;
    this.maxDatagramSize = MAXDGRAM;
    this.streams = new Map();
    this.nextLocal = [0, 0];
    this.nextPeer = [0, 0];
    this.peerLimit = [0, 0];
    this.localLimit = [MAXSTREAMS_DEFAULT, MAXSTREAMS_DEFAULT];
    this.peer = null;
    this.waiters = [];
    this.ended = null;
    let bidiCtl, uniCtl, dgCtl;
    this.incomingBidirectionalStreams = new ReadableStream({start: (c) => { bidiCtl = c; }});
    this.incomingUnidirectionalStreams = new ReadableStream({start: (c) => { uniCtl = c; }});
    this.datagrams = new ReadableStream({start: (c) => { dgCtl = c; }}, {highWaterMark: 64});
    this.accept = [bidiCtl, uniCtl];
    this.dgCtl = dgCtl;
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });
    ws.send(frame(HELLO, u32(MAXSTREAMS_DEFAULT), u32(MAXSTREAMS_DEFAULT), u32(WINDOW), u32(MAXFRAME), u32(MAXDGRAM)));
    ws.onmessage = (e) => {
      try {
        this.handle(new Uint8Array(e.data));
      } catch (err) {
        this.close({closeCode: 1002, reason: String(err.message || err)});
      }
    };
    ws.onclose = (e) => {
      let code = e.code === 1000 || e.code === 1005 ? 0 : e.code;
      this.end({closeCode: code, reason: e.reason || ''});
    };
  }

  end(info) {
    if (this.ended) return;
    this.ended = info;
    for (const st of this.streams.values()) st.fail(new Error('session closed: ' + info.closeCode + ' ' + info.reason));
    for (const c of this.accept) try { c.close(); } catch (_) {}
    try { this.dgCtl.close(); } catch (_) {}
    for (const w of this.waiters) w();
    this.waiters = [];
    this.resolveClosed(info);
  }

  send(b) {
    if (!this.ended) this.ws.send(b);
  }

  handle(b) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const t = b[0];
    if (!this.peer) {
      if (t !== HELLO || b.length !== 21) throw new Error('first frame is not HELLO');
      this.peer = {maxBidi: dv.getUint32(1), maxUni: dv.getUint32(5), window: dv.getUint32(9), maxFrame: dv.getUint32(13), maxDgram: dv.getUint32(17)};
      this.peerLimit = [this.peer.maxBidi, this.peer.maxUni];
      this.maxDatagramSize = Math.min(MAXDGRAM, this.peer.maxDgram);
      this.wake();
      return;
    }
    switch (t) {
      case DGRAM:
        try { this.dgCtl.enqueue(b.slice(1)); } catch (_) {}
        return;
      case CLOSE:
        this.end({closeCode: dv.getUint32(1), reason: new TextDecoder().decode(b.subarray(5))});
        this.ws.close(1000);
        return;
      case MAXSTREAMS:
        this.peerLimit[b[1]] = Math.max(this.peerLimit[b[1]], dv.getUint32(2));
        this.wake();
        return;
      case OPEN: {
        const id = dv.getUint32(1);
        const kind = id >> 1 & 1;
        if ((id & 1) !== 1 || id >>> 2 !== this.nextPeer[kind] || id >>> 2 >= this.localLimit[kind]) throw new Error('bad OPEN ' + id);
        this.nextPeer[kind]++;
        const st = new MuxStream(this, id, true);
        this.accept[kind].enqueue(kind === 0 ? {readable: st.readable, writable: st.writable} : st.readable);
        return;
      }
    }
    const id = dv.getUint32(1);
    const st = this.streams.get(id);
    if (!st) return; // ended (the server checks the protocol strictly)
    switch (t) {
      case DATA: st.data(b.slice(5)); break;
      case FIN: st.fin(); break;
      case RESET: st.reset(dv.getUint32(5)); break;
      case STOP: st.stop(dv.getUint32(5)); break;
      case CREDIT: st.addCredit(dv.getUint32(5)); break;
      default: throw new Error('unknown frame type ' + t);
    }
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async open(kind) {
    while (!this.ended && !(this.peer && this.nextLocal[kind] < this.peerLimit[kind])) {
      await new Promise((r) => this.waiters.push(r));
    }
    if (this.ended) throw new Error('session closed');
    const id = this.nextLocal[kind]++ << 2 | kind << 1;
    const st = new MuxStream(this, id, false);
    this.send(frame(OPEN, u32(id)));
    return st;
  }

  async createBidirectionalStream() {
    const st = await this.open(0);
    return {readable: st.readable, writable: st.writable};
  }

  async createUnidirectionalStream() {
    return (await this.open(1)).writable;
  }

  sendDatagram(b) {
    if (b.length > this.maxDatagramSize) throw new Error('datagram too large');
    if (this.ws.bufferedAmount > (1 << 20)) return; // newest wins over a full socket: drop
    this.send(frame(DGRAM, b));
  }

  retired(st) {
    this.streams.delete(st.id);
    if (st.peerInit && !this.ended) {
      const kind = st.id >> 1 & 1;
      this.localLimit[kind]++;
      this.send(frame(MAXSTREAMS, [kind], u32(this.localLimit[kind])));
    }
  }

  close(info = {}) {
    if (this.ended) return;
    const code = info.closeCode ?? 0;
    const reason = new TextEncoder().encode(info.reason ?? '').slice(0, 1024);
    this.send(frame(CLOSE, u32(code), reason));
    this.end({closeCode: code, reason: new TextDecoder().decode(reason)});
    const wsCode = code === 0 ? 1000 : (code >= 3000 && code <= 4999 ? code : 4000);
    this.ws.close(wsCode);
  }
}

class MuxStream {
  constructor(mux, id, peerInit) {
    this.mux = mux;
    this.id = id;
    this.peerInit = peerInit;
    const uni = (id >> 1 & 1) === 1;
    this.canRecv = !uni || peerInit;
    this.canSend = !uni || !peerInit;
    this.recvDone = !this.canRecv;
    this.sendDone = !this.canSend;
    this.credit = mux.peer ? mux.peer.window : 0;
    this.creditWaiters = [];
    this.queue = [];
    this.finished = false;
    this.error = null;
    this.read = 0;
    this.limit = WINDOW;
    this.pullWaiter = null;
    mux.streams.set(id, this);
    if (this.canRecv) {
      this.readable = new ReadableStream({
        pull: (c) => this.pull(c),
        cancel: (r) => this.cancelRead(0),
      }, {highWaterMark: 0});
    }
    if (this.canSend) {
      this.writable = new WritableStream({
        write: (chunk) => this.write(chunk),
        close: () => this.finish(FIN, 0),
        abort: () => this.finish(RESET, 0),
      });
    }
  }

  async pull(c) {
    while (this.queue.length === 0 && !this.finished && !this.error) {
      await new Promise((r) => { this.pullWaiter = r; });
    }
    if (this.queue.length > 0) {
      const chunk = this.queue.shift();
      c.enqueue(chunk);
      this.read += chunk.length;
      if (!this.finished && this.read + WINDOW - this.limit >= WINDOW / 2) {
        const inc = this.read + WINDOW - this.limit;
        this.limit += inc;
        this.mux.send(frame(CREDIT, u32(this.id), u32(inc)));
      }
      return;
    }
    if (this.error) {
      c.error(this.error);
    } else {
      c.close();
    }
    this.recvDone = true;
    this.maybeRetire();
  }

  wakeReader() {
    const w = this.pullWaiter;
    this.pullWaiter = null;
    if (w) w();
  }

  data(b) { if (!this.stopped) { this.queue.push(b); this.wakeReader(); } }
  fin() {
    this.finished = true;
    this.wakeReader();
    if (this.stopped) { this.recvDone = true; this.maybeRetire(); }
  }
  reset(code) {
    this.error = new Error('stream reset with code ' + code);
    this.queue = [];
    this.wakeReader();
    this.recvDone = true;
    this.maybeRetire();
  }
  cancelRead(code) {
    this.stopped = true;
    this.queue = [];
    this.mux.send(frame(STOP, u32(this.id), u32(code)));
  }
  stop(code) {
    this.stopError = new Error('peer stopped reading with code ' + code);
    if (!this.sendDone) {
      this.sendDone = true;
      this.mux.send(frame(RESET, u32(this.id), u32(code)));
    }
    this.wakeWriter();
    this.maybeRetire();
  }
  addCredit(n) { this.credit += n; this.wakeWriter(); }
  wakeWriter() {
    const w = this.creditWaiters;
    this.creditWaiters = [];
    for (const f of w) f();
  }
  fail(err) {
    this.error = this.error || err;
    this.stopError = this.stopError || err;
    this.wakeReader();
    this.wakeWriter();
  }

  async write(chunk) {
    let b = chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk);
    while (b.length > 0) {
      while (this.credit <= 0 && !this.stopError && !this.mux.ended) {
        await new Promise((r) => this.creditWaiters.push(r));
      }
      if (this.stopError) throw this.stopError;
      if (this.mux.ended) throw new Error('session closed');
      while (this.mux.ws.bufferedAmount > (1 << 20) && !this.mux.ended) {
        await new Promise((r) => setTimeout(r, 5));
      }
      const n = Math.min(b.length, this.credit, this.mux.peer.maxFrame);
      this.credit -= n;
      this.mux.send(frame(DATA, u32(this.id), b.subarray(0, n)));
      b = b.subarray(n);
    }
  }

  finish(type, code) {
    if (this.sendDone) return;
    this.sendDone = true;
    this.mux.send(type === FIN ? frame(FIN, u32(this.id)) : frame(RESET, u32(this.id), u32(code)));
    this.maybeRetire();
  }

  maybeRetire() {
    if (this.recvDone && this.sendDone && !this.retiredOnce) {
      this.retiredOnce = true;
      this.mux.retired(this);
    }
  }
}
