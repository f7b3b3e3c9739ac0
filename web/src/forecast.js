// The wallboard's staffing panel: the alerts raised now (GET /api/v1/alerts,
// then alert.raised / alert.cleared from the event socket) and a queue's
// forecast for a day (GET /api/v1/forecast): per half hour the expected
// calls, handle time and the agents needed by Erlang C and Erlang A, beside
// the queue's agents logged in now. Each state is said in words, not by
// colour alone.
import { api } from './api.js';
import { h, clear, fmtDuration } from './dom.js';
import { t } from './i18n.js';

const S = {
  es: {
    alerts: 'Alertas', noAlerts: 'Sin alertas', forecast: 'Previsión de personal', day: 'Día', show: 'Ver',
    halfHour: 'Franja', expected: 'Llamadas previstas', aht: 'Tiempo medio de gestión', ercAgents: 'Agentes (Erlang C)',
    scheduled: 'a planificar', eraAgents: 'Agentes (Erlang A)', abandon: 'abandono', loggedIn: 'Agentes conectados ahora',
    patience: 'Paciencia media medida', noPatience: 'sin abandonos: Erlang A no disponible', weeks: 'semanas de historia',
    targets: 'Objetivos y umbrales de alerta', save: 'Guardar', saved: 'Guardado', fields: {
      service_level_target: 'Nivel de servicio objetivo (0-1)', shrinkage: 'Reducción (0-1)', max_occupancy: 'Ocupación máx. (0-1)',
      alert_longest_wait_s: 'Alerta: espera más larga (s)', alert_wrapup_min: 'Alerta: post-llamada (min)', alert_paused_min: 'Alerta: pausa (min)' },
    target: 'Objetivo', neededNow: 'Necesarios en esta franja', kinds: {
      service_level_low: 'Nivel de servicio bajo el objetivo', longest_wait: 'Espera más larga que el umbral',
      agent_wrapup_long: 'Agente en post-llamada demasiado tiempo', agent_paused_long: 'Agente en pausa demasiado tiempo' },
  },
  en: {
    alerts: 'Alerts', noAlerts: 'No alerts', forecast: 'Staffing forecast', day: 'Day', show: 'Show',
    halfHour: 'Half hour', expected: 'Expected calls', aht: 'Average handle time', ercAgents: 'Agents (Erlang C)',
    scheduled: 'to schedule', eraAgents: 'Agents (Erlang A)', abandon: 'abandon', loggedIn: 'Agents logged in now',
    patience: 'Measured mean patience', noPatience: 'no abandoned calls: Erlang A not available', weeks: 'weeks of history',
    targets: 'Targets and alert thresholds', save: 'Save', saved: 'Saved', fields: {
      service_level_target: 'Service level target (0-1)', shrinkage: 'Shrinkage (0-1)', max_occupancy: 'Max occupancy (0-1)',
      alert_longest_wait_s: 'Alert: longest wait (s)', alert_wrapup_min: 'Alert: wrap-up (min)', alert_paused_min: 'Alert: paused (min)' },
    target: 'Target', neededNow: 'Needed this half hour', kinds: {
      service_level_low: 'Service level under target', longest_wait: 'Longest wait over threshold',
      agent_wrapup_long: 'Agent in wrap-up too long', agent_paused_long: 'Agent paused too long' },
  },
};
const s = (key) => { const lang = document.documentElement.lang === 'en' ? 'en' : 'es'; return key.split('.').reduce((d, k) => d && d[k], S[lang]) || key; };

function fmtAlert(a) {
  const v = a.kind === 'service_level_low' ? `${Math.round(a.value * 100)} % < ${Math.round(a.threshold * 100)} %`
    : a.kind === 'longest_wait' ? `${fmtDuration(a.value)} > ${a.threshold} s` : `${a.value} min > ${a.threshold} min`;
  return `${s(`kinds.${a.kind}`)} · ${a.queue}${a.agent_extension ? ` · ${a.agent_extension}` : ''} · ${v}`;
}

export function staffingPanel() {
  const alerts = new Map();
  const aBox = h('ul', { class: 'alerts', testid: 'wb-alerts', 'aria-live': 'polite' });
  const queueSel = h('select', { testid: 'fc-queue', 'aria-label': t('queue'), onchange: () => { loadForecast(); loadTargets(); } });
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const dayIn = h('input', { type: 'date', value: tomorrow, testid: 'fc-date', 'aria-label': s('day') });
  const summary = h('p', { class: 'hint', testid: 'fc-summary' });
  const table = h('table', { class: 'grid', testid: 'fc-table' });
  // the queue's targets and alert thresholds (PATCH /api/v1/queues/NAME/targets)
  const FIELDS = ['service_level_target', 'shrinkage', 'max_occupancy', 'alert_longest_wait_s', 'alert_wrapup_min', 'alert_paused_min'];
  const inputs = Object.fromEntries(FIELDS.map((f) => [f, h('input', { type: 'number', step: 'any', min: 0, name: f, testid: `tg-${f}` })]));
  const tgMsg = h('span', { class: 'hint', role: 'status', testid: 'tg-message' });
  const targets = h('details', {}, h('summary', {}, s('targets')),
    h('form', { class: 'row', onsubmit: saveTargets }, FIELDS.map((f) => h('label', {}, s(`fields.${f}`), inputs[f])),
      h('button', { type: 'submit', testid: 'tg-save' }, s('save')), tgMsg));
  const el = h('section', { testid: 'wb-staffing' },
    h('h2', {}, s('alerts')), aBox,
    h('h2', {}, s('forecast')),
    h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); loadForecast(); } },
      queueSel, dayIn, h('button', { type: 'submit', testid: 'fc-show' }, s('show'))),
    summary, table, targets);

  async function loadTargets() {
    if (!queueSel.value) return;
    try {
      const r = await api('GET', `/api/v1/queues/${encodeURIComponent(queueSel.value)}/targets`);
      for (const f of FIELDS) inputs[f].value = r.targets[f] === null ? '' : r.targets[f];
      tgMsg.textContent = '';
    } catch (ex) { tgMsg.textContent = ex.message; }
  }

  async function saveTargets(e) {
    e.preventDefault();
    // an empty threshold turns that alert off
    const body = Object.fromEntries(FIELDS.map((f) => [f, inputs[f].value === '' ? null : Number(inputs[f].value)])
      .filter(([f, v]) => v !== null || f.startsWith('alert_')));
    try {
      await api('PATCH', `/api/v1/queues/${encodeURIComponent(queueSel.value)}/targets`, body);
      tgMsg.textContent = s('saved');
      loadForecast();
    } catch (ex) { tgMsg.textContent = ex.body && ex.body.field ? `${s(`fields.${ex.body.field}`)}: ${ex.message}` : ex.message; }
  }

  function renderAlerts() {
    const list = [...alerts.values()];
    clear(aBox).append(...(list.length ? list.map((a) => h('li', { class: 'alert', 'data-kind': a.kind, 'data-alert': a.alert_id },
      h('strong', {}, '⚠ '), fmtAlert(a))) : [h('li', { class: 'hint' }, s('noAlerts'))]));
  }

  async function loadForecast() {
    if (!queueSel.value) return;
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    try {
      const f = await api('GET', `/api/v1/forecast?queue=${encodeURIComponent(queueSel.value)}&date=${dayIn.value}&tz=${encodeURIComponent(tz)}`);
      summary.textContent = `${s('loggedIn')}: ${f.agents_logged_in} · ${s('target')}: ${Math.round(f.service_level_target * 100)} % / ${f.service_level_s} s · `
        + `${f.weeks} ${s('weeks')} · ${f.patience_s ? `${s('patience')}: ${fmtDuration(f.patience_s)}` : s('noPatience')}`;
      summary.dataset.loggedIn = f.agents_logged_in;
      const now = f.slots.find((x) => Date.parse(x.start) <= Date.now() && Date.now() < Date.parse(x.end));
      if (now) summary.textContent += ` · ${s('neededNow')}: ${now.erlang_c.agents} (Erlang C)${now.erlang_a ? `, ${now.erlang_a.agents} (Erlang A)` : ''}`;
      const rows = f.slots.filter((x) => x.expected_calls > 0);
      clear(table).append(h('tbody', {},
        h('tr', {}, [s('halfHour'), s('expected'), s('aht'), s('ercAgents'), s('eraAgents')].map((c) => h('th', {}, c))),
        rows.map((x) => h('tr', { 'data-start': x.start },
          h('td', {}, new Date(x.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
          h('td', {}, x.expected_calls), h('td', {}, fmtDuration(x.aht_s)),
          h('td', {}, `${x.erlang_c.agents} (${x.erlang_c.scheduled} ${s('scheduled')})`),
          h('td', {}, x.erlang_a ? `${x.erlang_a.agents} (${x.erlang_a.scheduled} ${s('scheduled')}; ${Math.round(x.erlang_a.p_abandon * 1000) / 10} % ${s('abandon')})` : '–')))));
    } catch (ex) { summary.textContent = ex.message; }
  }

  async function load() {
    try {
      const [a, q] = await Promise.all([api('GET', '/api/v1/alerts'), api('GET', '/api/v1/queues')]);
      alerts.clear();
      for (const x of a.alerts) alerts.set(x.alert_id, x);
      renderAlerts();
      const chosen = queueSel.value;
      clear(queueSel).append(...q.queues.map((x) => h('option', { value: x.name, selected: x.name === chosen }, x.name)));
      if (!chosen) { loadForecast(); loadTargets(); }
    } catch { /* the wallboard's own message line reports the socket; try again on reconnect */ }
  }

  function onEvent(ev) {
    const d = ev.data || {};
    if (ev.type === 'alert.raised') alerts.set(d.alert_id, d);
    else if (ev.type === 'alert.cleared') alerts.delete(d.alert_id);
    else return;
    renderAlerts();
  }

  renderAlerts();
  return { el, load, onEvent };
}
