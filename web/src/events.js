// The live events websocket, reconnecting by itself (1 s, 2 s, 4 s … 15 s),
// with a fresh access token when the server closed it for an expired one.
import { tokens, refresh } from './api.js';

const TOKEN_EXPIRED = 4401;

export class EventStream {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.delay = 1000;
    this.stopped = false;
    this.ws = null;
  }

  start() { this.stopped = false; this.connect(); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  connect() {
    const pair = tokens();
    if (!pair || this.stopped) return;
    this.onState('connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/events?token=${encodeURIComponent(pair.access)}`);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.delay = 1000; this.onState('connected'); };
    ws.onmessage = (msg) => {
      try { this.onEvent(JSON.parse(msg.data)); } catch (err) { console.error('event', err); }
    };
    ws.onclose = async (ev) => {
      if (this.ws !== ws) return;
      this.onState('disconnected');
      if (this.stopped) return;
      // refused before the upgrade (expired token) or closed for expiry: renew
      if (ev.code === TOKEN_EXPIRED || !opened) await refresh().catch(() => {});
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    };
  }
}
