// The WebRTC softphone: JsSIP registering over WSS to Kamailio, which hands
// the media to rtpengine (DTLS-SRTP/ICE <-> plain RTP for Asterisk).
// Credentials are the extension and the digest HA1 from /api/v1/softphone:
// no SIP password is typed or stored in the browser.
import JsSIP from 'jssip/lib/JsSIP.js';

export class Softphone {
  constructor(cfg, audioEl, handlers) {
    this.cfg = cfg;
    this.audio = audioEl;
    this.h = handlers; // onState(state), onCall(event, session), onSession(session|null)
    this.session = null;
    this.muted = false;
    this.held = false;
    this.ua = null;
    this.autoAnswerUntil = 0;
  }

  // Click-to-call: the server rings this phone first with Call-Info
  // answer-after=0. Answer that by ourselves, but only right after this page
  // asked for such a call: a stray header must not open the microphone.
  expectAutoAnswer(seconds = 30) { this.autoAnswerUntil = Date.now() + seconds * 1000; }

  start() {
    const { cfg } = this;
    const socket = new JsSIP.WebSocketInterface(`wss://${location.hostname}:${cfg.wss_port}`);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${cfg.extension}@${cfg.domain}`,
      authorization_user: cfg.extension,
      ha1: cfg.ha1,
      realm: cfg.realm,
      display_name: cfg.display_name,
      register: true,
      register_expires: 300,
      session_timers: true,
      user_agent: 'AIT-COMMS web softphone',
      // JsSIP reconnects the websocket by itself within these bounds
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 15,
    });
    const ua = this.ua;
    ua.on('connecting', () => this.h.onState('connecting'));
    ua.on('connected', () => this.h.onState('connected'));
    ua.on('disconnected', () => this.h.onState('disconnected'));
    ua.on('registered', () => this.h.onState('registered'));
    ua.on('unregistered', () => this.h.onState(ua.isConnected() ? 'connected' : 'disconnected'));
    ua.on('registrationFailed', () => {
      this.h.onState('regFailed');
      // a transient failure (e.g. Kamailio restarting): try again shortly
      setTimeout(() => { if (this.ua === ua && ua.isConnected()) ua.register(); }, 5000);
    });
    ua.on('newRTCSession', (e) => this.newSession(e));
    ua.start();
    window.addEventListener('beforeunload', () => this.stop());
  }

  stop() {
    if (this.ua) { const ua = this.ua; this.ua = null; ua.stop(); }
  }

  newSession(e) {
    const session = e.session;
    if (this.session && !this.session.isEnded()) {
      if (e.originator === 'remote') session.terminate({ status_code: 486 });
      return;
    }
    this.session = session;
    this.muted = false;
    this.held = false;
    const attach = (pc) => {
      pc.addEventListener('track', (ev) => {
        if (ev.streams && ev.streams[0]) this.audio.srcObject = ev.streams[0];
      });
    };
    if (session.connection) attach(session.connection);
    else session.on('peerconnection', (ev) => attach(ev.peerconnection));
    const report = (name) => () => this.h.onCall(name, session);
    session.on('progress', report('progress'));
    session.on('accepted', report('accepted'));
    session.on('confirmed', report('confirmed'));
    session.on('hold', () => { this.held = true; this.h.onCall('hold', session); });
    session.on('unhold', () => { this.held = false; this.h.onCall('unhold', session); });
    session.on('muted', () => { this.muted = true; this.h.onCall('muted', session); });
    session.on('unmuted', () => { this.muted = false; this.h.onCall('unmuted', session); });
    const end = (name) => () => {
      if (this.session === session) this.session = null;
      this.audio.srcObject = null;
      this.h.onCall(name, session);
    };
    session.on('ended', end('ended'));
    session.on('failed', end('failed'));
    this.h.onCall(e.originator === 'remote' ? 'incoming' : 'outgoing', session);
    const callInfo = (e.request && e.request.getHeader && e.request.getHeader('Call-Info')) || '';
    if (e.originator === 'remote' && /answer-after=0/i.test(callInfo) && Date.now() < this.autoAnswerUntil) {
      this.autoAnswerUntil = 0;
      this.autoAnswered = true;
      setTimeout(() => this.answer(), 0);
    } else {
      this.autoAnswered = false;
    }
  }

  get ringing() {
    return !!this.session && this.session.direction === 'incoming' && !this.session.isEstablished()
      && !this.session.isEnded();
  }

  get established() { return !!this.session && this.session.isEstablished(); }

  answer() {
    if (!this.ringing) return;
    this.session.answer({
      mediaConstraints: { audio: true, video: false },
      pcConfig: { iceServers: [] },
    });
  }

  reject() { if (this.ringing) this.session.terminate({ status_code: 486, reason_phrase: 'Busy Here' }); }

  hangup() { if (this.session && !this.session.isEnded()) this.session.terminate(); }

  toggleHold() {
    if (!this.established) return;
    if (this.held) this.session.unhold(); else this.session.hold();
  }

  toggleMute() {
    if (!this.established) return;
    if (this.muted) this.session.unmute({ audio: true }); else this.session.mute({ audio: true });
  }

  dtmf(digit) {
    if (this.established) this.session.sendDTMF(digit, { transportType: 'RFC2833', duration: 120 });
  }

  // for tests and diagnostics: packets counted by the browser's own WebRTC stack
  async rtpStats() {
    const pc = this.session && this.session.connection;
    if (!pc) return null;
    const stats = await pc.getStats();
    const out = { sent: 0, received: 0 };
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.sent += s.packetsSent || 0;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.received += s.packetsReceived || 0;
    });
    return out;
  }
}
