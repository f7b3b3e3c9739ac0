// The agent desktop: softphone, status, screen pop, quote during the call, wrap-up.
import { api } from './api.js';
import { EventStream } from './events.js';
import { Softphone } from './softphone.js';
import { h, clear, fmtDuration, parseTs } from './dom.js';
import { quotePanel } from './quote.js';
import { captions } from './captions.js';
import { customerPanel } from './customers.js';
import { t, DISPOSITIONS, PAUSE_REASONS } from './i18n.js';

const SIP_STATE = { registered: 'ok', connected: 'warn', connecting: 'warn', disconnected: 'bad', regFailed: 'bad', noPhone: 'bad' };

export function agentDesk(main, user) {
  const st = {
    sip: 'connecting', events: 'connecting', agent: null, wrapupUntil: null,
    pop: null, // {call_id, caller_number, queue, customer_id, context}
    call: 'idle', // idle | ringing | talking | held
    callerNumber: '', callStarted: null,
    wrapup: null, // {call_id, customer_id, interaction_id|null, saved}
  };
  const audio = document.getElementById('remote-audio');
  let phone = null;

  // -- layout -----------------------------------------------------------------
  const sipBadge = h('span', { class: 'badge', testid: 'sip-state' });
  const evBadge = h('span', { class: 'badge', testid: 'events-state' });
  const statusNow = h('span', { class: 'status', testid: 'agent-status' });
  const statusClock = h('span', { class: 'clock', testid: 'status-clock' });
  const statusSel = h('select', { testid: 'status-select', 'aria-label': t('status') },
    ['available', 'paused', 'logged_out'].map((s) => h('option', { value: s }, t(s))));
  const reasonSel = h('select', { testid: 'reason-select', 'aria-label': t('reason') },
    PAUSE_REASONS.map((r) => h('option', { value: r }, t(`reasons.${r}`))));
  const statusErr = h('span', { class: 'error' });
  statusSel.addEventListener('change', () => { reasonSel.hidden = statusSel.value !== 'paused'; });
  const applyStatus = h('button', {
    testid: 'status-apply', onclick: async () => {
      statusErr.textContent = '';
      const body = { status: statusSel.value };
      if (statusSel.value === 'paused') body.reason = reasonSel.value;
      try {
        const r = await api('PUT', `/api/v1/agents/${user.agent_extension}/status`, body);
        setAgent(r.agent);
      } catch (ex) { statusErr.textContent = ex.message; }
    },
  }, t('apply'));
  const wrapupClock = h('span', { class: 'wrapup-clock', testid: 'wrapup-countdown' });

  const callState = h('div', { class: 'call-state', testid: 'call-state' });
  const callTimer = h('span', { class: 'clock', testid: 'call-timer' });
  const btn = (id, label, fn, cls = '') => h('button', { testid: id, class: cls, onclick: fn }, label);
  const bAnswer = btn('answer', t('answer'), () => phone && phone.answer(), 'go');
  const bReject = btn('reject', t('reject'), () => phone && phone.reject(), 'stop');
  const bHangup = btn('hangup', t('hangup'), () => phone && phone.hangup(), 'stop');
  const bHold = btn('hold', t('hold'), () => phone && phone.toggleHold());
  const bMute = btn('mute', t('mute'), () => phone && phone.toggleMute());
  const keypad = h('div', { class: 'keypad', testid: 'keypad' },
    '123456789*0#'.split('').map((d) => h('button', { testid: `dtmf-${d === '*' ? 'star' : d === '#' ? 'hash' : d}`, onclick: () => phone && phone.dtmf(d) }, d)));

  // dial a number (click-to-call from the keypad's field)
  const dialInput = h('input', { type: 'tel', testid: 'dial-number', 'aria-label': t('number'), placeholder: '+34 600 000 000' });
  const dialMsg = h('span', { class: 'hint', testid: 'dial-message' });
  const dialForm = h('form', {
    class: 'row', onsubmit: async (e) => {
      e.preventDefault();
      dialMsg.textContent = '';
      try { await dial({ to: dialInput.value }); } catch (ex) { dialMsg.textContent = ex.message; }
    },
  }, dialInput, h('button', { type: 'submit', testid: 'dial', class: 'go' }, t('call')), dialMsg);

  // call control on the server (the call's id comes with the screen pop):
  // blind transfer to a colleague or a queue, attended transfer, recording
  const ctlMsg = h('span', { class: 'hint', testid: 'control-message', role: 'status' });
  const xferTo = h('input', { testid: 'transfer-to', placeholder: '1002 · autos', 'aria-label': t('transferTo'), size: 10 });
  const target = () => { const v = xferTo.value.trim(); return /^[0-9]+$/.test(v) ? `ext:${v}` : `queue:${v}`; };
  async function control(action, body, done) {
    ctlMsg.textContent = '';
    delete ctlMsg.dataset.done;
    const id = st.pop && st.pop.call_id;
    if (!id) return;
    try {
      await api('POST', `/api/v1/calls/${id}/${action}`, body);
      ctlMsg.textContent = done;
      ctlMsg.dataset.done = action + (body && body.action ? `-${body.action}` : '');
    } catch (ex) { ctlMsg.textContent = ex.message; }
  }
  const bTransfer = btn('transfer', t('transfer'), () => control('transfer', { to: target() }, t('transferred')));
  const bConsult = btn('consult', t('consult'), () => {
    const v = xferTo.value.trim();
    st.consulting = true;
    control('consult', { to: `ext:${v}` }, t('consulting', { ext: v }));
    render();
  });
  const bComplete = btn('complete-transfer', t('completeTransfer'), () => control('complete_transfer', undefined, t('transferred')));
  const bRecPause = btn('recording-pause', t('recPause'), () => { st.recPaused = true; control('recording', { action: 'pause' }, t('recPaused')); render(); });
  const bRecResume = btn('recording-resume', t('recResume'), () => { st.recPaused = false; control('recording', { action: 'resume' }, t('recResumed')); render(); });
  const controls = h('div', { class: 'controls', testid: 'call-controls' },
    h('div', { class: 'row' }, xferTo, bTransfer, bConsult, bComplete),
    h('div', { class: 'row' }, bRecPause, bRecResume), ctlMsg);

  const popBox = h('section', { class: 'pop', testid: 'screen-pop' });
  const wrapBox = h('section', { class: 'wrapup', testid: 'wrapup', hidden: true });
  const quoteBox = h('div', { class: 'quote-box', hidden: true });
  // click-to-call: the softphone answers the server's call to it by itself
  async function dial(req) {
    if (phone) phone.expectAutoAnswer();
    const r = await api('POST', '/api/v1/calls', req);
    return r.call;
  }
  const crm = customerPanel({ dial });
  const cap = captions({ suggestions: true, only: user.agent_extension }); // live transcript, KB
  let quoteFor = null; // the call the quote form was built for

  main.append(h('div', { class: 'desk' },
    h('section', { class: 'panel' },
      h('div', { class: 'conn' }, h('span', {}, t('softphone'), ': '), sipBadge),
      h('div', { class: 'conn' }, h('span', {}, t('events'), ': '), evBadge),
      h('h3', {}, t('status')), h('div', {}, statusNow, ' ', statusClock, ' ', wrapupClock),
      h('div', { class: 'row' }, statusSel, reasonSel, applyStatus), statusErr,
      h('p', { class: 'hint' }, t('shortcuts'))),
    h('section', { class: 'panel phone' },
      callState, callTimer,
      h('div', { class: 'row' }, bAnswer, bReject, bHangup),
      h('div', { class: 'row' }, bHold, bMute),
      controls,
      h('details', {}, h('summary', {}, t('keypad')), keypad),
      dialForm),
    popBox, cap.el, quoteBox, wrapBox, crm.el));

  // -- rendering --------------------------------------------------------------
  function render() {
    sipBadge.textContent = t(st.sip);
    sipBadge.dataset.state = st.sip;
    sipBadge.className = `badge ${SIP_STATE[st.sip] || 'warn'}`;
    evBadge.textContent = t(st.events);
    evBadge.dataset.state = st.events;
    evBadge.className = `badge ${st.events === 'connected' ? 'ok' : st.events === 'connecting' ? 'warn' : 'bad'}`;
    const a = st.agent;
    statusNow.textContent = a ? t(a.status) + (a.status === 'paused' && a.pause_reason ? ` (${t(`reasons.${a.pause_reason}`)})` : '') : '';
    statusNow.dataset.status = a ? a.status : '';
    const labels = { idle: t('idle'), ringing: t('incoming'), talking: t('inCall'), held: t('onHold') };
    const outbound = st.pop && st.pop.direction === 'outbound';
    const dialing = outbound && !st.pop.connected && st.call !== 'idle';
    callState.textContent = (dialing ? t('dialing') : labels[st.call])
      + (outbound && st.call !== 'idle' ? ` · ${st.pop.caller_number}` : st.callerNumber && st.call !== 'idle' ? ` · ${st.callerNumber}` : '');
    callState.dataset.state = dialing ? 'dialing' : st.call;
    callState.dataset.direction = outbound ? 'outbound' : 'inbound';
    const live = (st.call === 'talking' || st.call === 'held') && !!(st.pop && st.pop.call_id) && !dialing;
    controls.hidden = !live;
    bComplete.disabled = !st.consulting;
    bRecPause.disabled = !!st.recPaused;
    bRecResume.disabled = !st.recPaused;
    bAnswer.disabled = st.call !== 'ringing';
    bReject.disabled = st.call !== 'ringing';
    bHangup.disabled = st.call === 'idle' || st.call === 'ringing';
    bHold.disabled = bMute.disabled = !(st.call === 'talking' || st.call === 'held');
    bHold.textContent = st.call === 'held' ? t('unhold') : t('hold');
    bMute.textContent = phone && phone.muted ? t('unmute') : t('mute');
    bMute.classList.toggle('on', !!(phone && phone.muted));
    renderPop();
    renderQuote();
    tick();
  }

  // the quote form: once the call with a known customer is answered, built
  // once per call (so that re-rendering keeps what the agent typed)
  function renderQuote() {
    const p = st.pop;
    const known = p && p.customer_id && p.context && p.context.customer;
    if (!known) { quoteBox.hidden = true; if (!p) { clear(quoteBox); quoteFor = null; } return; }
    if (st.call === 'ringing' && quoteFor !== p.call_id) { quoteBox.hidden = true; return; }
    if (quoteFor !== p.call_id) {
      quoteFor = p.call_id;
      clear(quoteBox).append(quotePanel({ call_id: p.call_id, customer_id: p.customer_id }));
    }
    quoteBox.hidden = false;
  }

  function tick() {
    const a = st.agent;
    statusClock.textContent = a && a.status_since ? fmtDuration((Date.now() - parseTs(a.status_since)) / 1000) : '';
    if (st.wrapupUntil && a && a.status === 'wrap_up') {
      const left = Math.max(0, Math.ceil((st.wrapupUntil - Date.now()) / 1000));
      wrapupClock.textContent = t('wrapupLeft', { s: left });
      wrapupClock.dataset.left = left;
    } else {
      wrapupClock.textContent = '';
    }
    callTimer.textContent = st.callStarted ? fmtDuration((Date.now() - st.callStarted) / 1000) : '';
  }
  const ticker = setInterval(tick, 500);

  function list(title, id, items, fmt) {
    return h('div', { class: 'pop-list', testid: id }, h('h4', {}, title),
      items && items.length ? h('ul', {}, items.map((i) => h('li', {}, fmt(i)))) : h('p', { class: 'muted' }, t('none')));
  }

  function renderPop() {
    clear(popBox);
    const p = st.pop;
    if (!p) { popBox.hidden = true; return; }
    popBox.hidden = false;
    const ctx = p.context || {};
    const c = ctx.customer;
    popBox.dataset.callId = p.call_id;
    popBox.append(h('h3', {}, st.call === 'ringing' ? t('incoming') : t('customer'), ' · ', t('queue'), ' ', p.queue || ''));
    if (!c) {
      popBox.append(h('p', { testid: 'pop-customer' }, t('unknownCaller'), ' ', p.caller_number || ''));
      return;
    }
    popBox.append(
      h('div', { class: 'customer', testid: 'pop-customer' },
        h('strong', {}, c.name), c.segment === 'vip' ? h('span', { class: 'badge vip' }, t('vip')) : '',
        h('div', { class: 'muted' }, [c.dni, c.email, (c.phones || []).join(', '), c.language].filter(Boolean).join(' · '))),
      list(t('policies'), 'pop-policies', ctx.policies, (x) => `${x.number} · ${x.type} · ${x.carrier} · ${x.premium} € · ${x.end_date}`),
      list(t('claims'), 'pop-claims', ctx.claims, (x) => `${x.number} · ${x.status} · ${x.description || ''}`),
      list(t('quotes'), 'pop-quotes', ctx.quotes, (x) => `${x.number} · ${x.product_type} · ${x.premium} €`),
      list(t('interactions'), 'pop-interactions', ctx.interactions, (x) => `${(x.started_at || '').slice(0, 16).replace('T', ' ')} · ${x.direction} · ${x.disposition || x.outcome} ${x.notes ? '· ' + x.notes : ''}`),
      list(t('tasks'), 'pop-tasks', ctx.tasks, (x) => `${(x.scheduled_at || '').slice(0, 16).replace('T', ' ')} · ${x.kind} · ${x.notes || ''}`));
  }

  function renderWrapup() {
    const w = st.wrapup;
    clear(wrapBox);
    if (!w) { wrapBox.hidden = true; return; }
    wrapBox.hidden = false;
    wrapBox.append(h('h3', {}, t('wrapup')));
    if (!w.interaction_id) {
      wrapBox.append(h('p', { class: 'muted', testid: 'wrapup-none' }, t('noInteraction')),
        h('button', { onclick: () => { st.wrapup = null; renderWrapup(); } }, 'OK'));
      return;
    }
    const disp = h('select', { testid: 'disposition', required: true },
      h('option', { value: '' }, t('choose')),
      DISPOSITIONS.map((d) => h('option', { value: d }, t(`dispositions.${d}`))));
    const notes = h('textarea', { testid: 'notes', rows: 4, maxlength: 4000 });
    const msg = h('span', { testid: 'wrapup-result' });
    const save = h('button', {
      testid: 'save-wrapup', class: 'go', onclick: async () => {
        msg.textContent = '';
        if (!disp.value) { msg.textContent = t('disposition') + '?'; return; }
        try {
          await api('PATCH', `/api/v1/interactions/${w.interaction_id}`,
            { disposition: disp.value, notes: notes.value || undefined });
          w.saved = true;
          msg.textContent = t('saved');
          msg.dataset.saved = '1';
          setTimeout(() => { if (st.wrapup === w) { st.wrapup = null; renderWrapup(); } }, 3000);
        } catch (ex) { msg.textContent = ex.message; }
      },
    }, t('save'));
    wrapBox.append(h('label', {}, t('disposition'), disp), h('label', {}, t('notes'), notes), h('div', { class: 'row' }, save, msg));
  }

  function setAgent(agent, wrapupS) {
    st.agent = agent;
    if (agent.status === 'wrap_up' && wrapupS !== undefined) st.wrapupUntil = Date.now() + wrapupS * 1000;
    if (agent.status !== 'wrap_up') st.wrapupUntil = null;
    if (agent.status !== 'paused' && agent.status !== 'logged_out' && agent.status !== 'available') return render();
    statusSel.value = agent.status;
    reasonSel.hidden = agent.status !== 'paused';
    render();
  }

  async function startWrapup(call) {
    const w = { call_id: call.id, customer_id: call.customer_id, interaction_id: null, saved: false };
    st.wrapup = w;
    if (call.customer_id) {
      // the ACD writes the interaction before it announces call.completed
      for (let i = 0; i < 5 && !w.interaction_id; i++) {
        try {
          const r = await api('GET', `/api/v1/customers/${call.customer_id}/interactions?limit=20`);
          const found = r.interactions.find((x) => x.call_id === call.id);
          if (found) w.interaction_id = found.id;
        } catch { /* retried */ }
        if (!w.interaction_id) await new Promise((r) => setTimeout(r, 500));
      }
    }
    if (st.wrapup === w) renderWrapup();
  }

  // -- events -----------------------------------------------------------------
  function onEvent(ev) {
    const d = ev.data || {};
    cap.onEvent(ev);
    switch (ev.type) {
      case 'call.incoming':
      case 'call.outgoing':
        if (d.agent === user.agent_extension) {
          st.pop = { call_id: d.call_id, caller_number: d.caller_number, queue: d.queue, customer_id: d.customer_id, context: d.context,
            direction: d.direction || 'inbound', connected: false };
          st.consulting = false;
          st.recPaused = false;
          render();
        }
        break;
      case 'call.answered':
        if (d.call && st.pop && st.pop.call_id === d.call.id) { st.pop.connected = true; render(); }
        break;
      case 'call.not_connected':
        if (d.call && d.call.agent_extension === user.agent_extension) {
          dialMsg.textContent = t('notConnected', { n: d.call.caller_number });
          dialMsg.dataset.result = 'not_connected';
          if (st.pop && st.pop.call_id === d.call.id) st.pop = null;
          render();
        }
        break;
      case 'call.transferred':
        if (st.pop && st.pop.call_id === d.call_id) st.consulting = false;
        break;
      case 'task.created':
        crm.loadTasks();
        break;
      case 'agent.status_changed':
        if (d.agent && d.agent.extension === user.agent_extension) setAgent(d.agent, d.wrapup_s);
        break;
      case 'call.completed':
        if (d.call && d.call.agent_extension === user.agent_extension) {
          startWrapup(d.call);
          if (d.call.task_id) setTimeout(() => crm.refresh(), 1500); // done by the CRM writer
        }
        break;
      case 'call.abandoned':
        if (d.call && st.pop && st.pop.call_id === d.call.id && st.call === 'idle') { st.pop = null; render(); }
        break;
      default:
    }
  }
  const events = new EventStream(onEvent, (s) => {
    st.events = s;
    render();
    if (s === 'connected') refreshAgent(); // catch up on what we missed while away
  });

  async function refreshAgent() {
    try {
      const r = await api('GET', '/api/v1/agents');
      const me = r.agents.find((a) => a.extension === user.agent_extension);
      if (me) setAgent(me);
    } catch { /* shown by the events badge */ }
  }

  // -- softphone ----------------------------------------------------------------
  function onCall(name, session) {
    if (name === 'incoming') {
      st.call = 'ringing';
      st.callerNumber = session.remote_identity.uri.user;
    } else if (name === 'accepted' || name === 'confirmed' || name === 'unhold') {
      st.call = 'talking';
      st.callStarted ||= Date.now();
    } else if (name === 'hold') {
      st.call = 'held';
    } else if (name === 'ended' || name === 'failed') {
      st.call = 'idle';
      st.callStarted = null;
      st.pop = st.wrapup || name === 'failed' ? null : st.pop;
    }
    render();
  }

  async function startPhone() {
    if (!user.agent_extension) { st.sip = 'noPhone'; render(); return; }
    try {
      const cfg = await api('GET', '/api/v1/softphone');
      phone = new Softphone(cfg, audio, { onState: (s) => { st.sip = s; render(); }, onCall });
      window.aitcommsPhone = phone; // diagnostics (and the browser test's RTP figures)
      phone.start();
    } catch (ex) {
      st.sip = 'noPhone';
      render();
    }
  }

  function onKey(e) {
    if (!e.altKey || !phone) return;
    const k = e.key.toLowerCase();
    if (k === 'a') { e.preventDefault(); phone.answer(); }
    else if (k === 'h') { e.preventDefault(); if (phone.ringing) phone.reject(); else phone.hangup(); }
    else if (k === 'm') { e.preventDefault(); phone.toggleMute(); render(); }
    else if (k === 'k') { e.preventDefault(); phone.toggleHold(); }
  }
  document.addEventListener('keydown', onKey);

  render();
  renderWrapup();
  events.start();
  startPhone();

  return () => {
    clearInterval(ticker);
    document.removeEventListener('keydown', onKey);
    events.stop();
    if (phone) phone.stop();
    window.aitcommsPhone = undefined;
  };
}
