// The supervisor wallboard: queues (queue.stats), agents with time in state,
// live calls with listen / whisper / barge (POST /api/v1/supervision rings
// the supervisor's own phone; call.supervised marks the call once it is in),
// and the live sales activity: quote.created and policy.created as they
// happen (the newest first, the last 50).
import { api } from './api.js';
import { EventStream } from './events.js';
import { h, clear, fmtDuration, parseTs } from './dom.js';
import { t } from './i18n.js';
import { callsPerHour, serviceLevel } from './charts.js';
import { staffingPanel } from './forecast.js';
import { captions } from './captions.js';

export function wallboard(main, user) {
  const st = { queues: {}, agents: new Map(), calls: new Map(), events: 'connecting', sales: [], supervised: new Map() };
  const evBadge = h('span', { class: 'badge', testid: 'events-state' });
  const qBox = h('table', { class: 'grid', testid: 'wb-queues' });
  const aBox = h('table', { class: 'grid', testid: 'wb-agents' });
  const cBox = h('table', { class: 'grid', testid: 'wb-calls' });
  const sBox = h('table', { class: 'grid', testid: 'wb-sales' });
  const msg = h('p', { class: 'hint', testid: 'wb-message' });
  const charts = h('div', { class: 'charts', testid: 'wb-charts' });
  const staffing = staffingPanel(); // alerts and the forecast beside the agents logged in
  const cap = captions({ alerts: true }); // live calls' transcripts and keyword alerts
  main.append(h('div', { class: 'conn' }, t('events'), ': ', evBadge),
    h('h2', {}, t('queues')), qBox, staffing.el, charts, h('h2', {}, t('agents')), aBox,
    h('h2', {}, t('liveCalls')), cBox, cap.el, msg, h('h2', {}, t('sales')), sBox);

  const tbody = (...rows) => h('tbody', {}, ...rows);
  const row = (cells, tag = 'td') => h('tr', {}, cells.map((c) => h(tag, {}, c)));

  async function supervise(callId, mode) {
    msg.textContent = '';
    try {
      await api('POST', '/api/v1/supervision', { call_id: callId, mode });
      msg.textContent = `${t(mode)}: ${t('supervisionRequested')} (${user.agent_extension || '-'})`;
      msg.dataset.requested = `${mode}-${callId}`;
    } catch (ex) { msg.textContent = ex.message; }
  }

  function render() {
    evBadge.textContent = t(st.events);
    evBadge.dataset.state = st.events;
    evBadge.className = `badge ${st.events === 'connected' ? 'ok' : 'bad'}`;
    clear(qBox).append(tbody(row([t('queue'), t('waiting'), t('longest'), t('talking'), t('answered'), t('abandoned'), t('serviceLevel')], 'th'),
      Object.entries(st.queues).map(([name, q]) => row([name, q.waiting, fmtDuration(q.longest_wait_s), q.talking, q.answered, q.abandoned,
        q.service_level === null || q.service_level === undefined ? '–' : `${Math.round(q.service_level * 100)} %`]))));
    clear(aBox).append(tbody(row([t('extension'), t('name'), t('status'), t('since')], 'th'),
      [...st.agents.values()].sort((a, b) => a.extension.localeCompare(b.extension)).map((a) => h('tr', { 'data-ext': a.extension },
        h('td', {}, a.extension), h('td', {}, a.name), h('td', { class: `st-${a.status}` }, t(a.status) + (a.pause_reason ? ` (${a.pause_reason})` : '')),
        h('td', {}, a.status_since ? fmtDuration((Date.now() - parseTs(a.status_since)) / 1000) : '')))));
    clear(cBox).append(tbody(row([t('queue'), t('caller'), t('agent'), t('since'), ''], 'th'),
      [...st.calls.values()].map((c) => h('tr', { 'data-call': c.id, 'data-supervised': st.supervised.get(c.id), 'data-direction': c.direction || 'inbound' },
        h('td', {}, c.direction === 'outbound' ? t('outbound') : c.queue), h('td', {}, c.caller_number || ''), h('td', {}, c.agent_extension || ''),
        h('td', {}, c.answered_at ? fmtDuration((Date.now() - parseTs(c.answered_at)) / 1000) : ''),
        h('td', {}, ['listen', 'whisper', 'barge'].map((m) => h('button', { testid: `${m}-${c.id}`, onclick: () => supervise(c.id, m) }, t(m))),
          st.supervised.has(c.id) ? h('span', { class: 'badge ok', testid: `supervised-${c.id}` }, t(st.supervised.get(c.id))) : '')))));
    clear(sBox).append(tbody(row([t('time'), t('kind'), t('number'), t('customer'), t('agent'), t('premium')], 'th'),
      st.sales.map((x) => h('tr', { 'data-kind': x.kind, 'data-number': x.number },
        [x.ts, t(x.kind === 'policy' ? 'policyCreated' : 'quoteCreated') + (x.product ? ` · ${t(`products.${x.product}`)}` : ''),
          x.number, x.customer_id, x.agent || '', `${x.premium} €`].map((c) => h('td', {}, c))))));
  }

  function sale(kind, ev, item, agent) {
    st.sales.unshift({ kind, ts: new Date(ev.ts ? ev.ts * 1000 : Date.now()).toLocaleTimeString(), number: item.number,
      product: item.product_type || item.type, customer_id: item.customer_id, agent, premium: item.premium });
    st.sales.length = Math.min(st.sales.length, 50);
  }

  function onEvent(ev) {
    staffing.onEvent(ev);
    const d = ev.data || {};
    cap.onEvent(ev);
    if (ev.type === 'queue.stats') st.queues = d.queues || {};
    else if (ev.type === 'agent.status_changed' && d.agent) st.agents.set(d.agent.extension, d.agent);
    else if (ev.type === 'call.answered' && d.call) { st.calls.set(d.call.id, d.call); chartsSoon(); }
    else if ((ev.type === 'call.completed' || ev.type === 'call.abandoned') && d.call) {
      st.calls.delete(d.call.id);
      st.supervised.delete(d.call.id);
      chartsSoon();
    } else if (ev.type === 'call.supervised' && d.call_id) st.supervised.set(d.call_id, d.mode);
    else if (ev.type === 'quote.created' && d.quote) sale('quote', ev, d.quote, d.agent_extension);
    else if (ev.type === 'policy.created' && d.policy) sale('policy', ev, d.policy, d.agent_extension);
    else return;
    render();
  }

  // today's charts: at start, every minute, and shortly after a call ends
  let chartTimer = null;
  async function loadCharts() {
    clearTimeout(chartTimer);
    chartTimer = setTimeout(loadCharts, 60000);
    try {
      const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
      const r = await api('GET', `/api/v1/analytics/calls/hourly?tz=${encodeURIComponent(tz)}`);
      clear(charts).append(
        h('figure', {}, h('figcaption', {}, t('callsPerHour')), callsPerHour(r.hours, t('callsPerHour'))),
        h('figure', {}, h('figcaption', {}, t('slThroughDay')), serviceLevel(r.hours, t('slThroughDay'))));
      charts.dataset.day = r.day;
    } catch (ex) { msg.textContent = ex.message; }
  }
  const chartsSoon = () => { clearTimeout(chartTimer); chartTimer = setTimeout(loadCharts, 1500); };

  async function load() {
    try {
      const r = await api('GET', '/api/v1/agents');
      st.agents = new Map(r.agents.map((a) => [a.extension, a]));
      render();
    } catch (ex) { msg.textContent = ex.message; }
  }

  const events = new EventStream(onEvent, (s) => { st.events = s; render(); if (s === 'connected') { load(); loadCharts(); staffing.load(); } });
  events.start();
  const ticker = setInterval(render, 1000);
  render();
  return () => { clearInterval(ticker); clearTimeout(chartTimer); events.stop(); };
}
