// Call history and the recordings library: past calls searched by date,
// queue, agent, customer, disposition, direction and duration (GET
// /api/v1/calls, or /api/v1/recordings for calls with a recording kept);
// a call's detail with its timeline (each agent rung with the routing
// scores, holds, transfers, supervision, wrap-up) and the recording's
// player. Agents see their own calls only (the API enforces it).
//
// The <audio> element loads /api/v1/calls/ID/recording?token=ACCESS: it
// cannot send an Authorization header, and the server answers its Range
// requests (206) so the player can seek. An expired token: refreshed once.
import { api, tokens, refresh } from './api.js';
import { h, clear, fmtDuration, parseTs } from './dom.js';
import { lang, DISPOSITIONS, t } from './i18n.js';

const S = {
  es: {
    title: 'Historial de llamadas', from: 'Desde', to: 'Hasta', queue: 'Cola', agent: 'Agente',
    customer: 'Cliente (nombre o teléfono)', disposition: 'Resultado', direction: 'Sentido',
    minDuration: 'Duración mín. (s)', maxDuration: 'Duración máx. (s)', any: 'Todos',
    inbound: 'Entrante', outbound: 'Saliente', onlyRecorded: 'Solo con grabación', search: 'Buscar',
    when: 'Fecha', caller: 'Llamante', wait: 'Espera', talk: 'Conversación', state: 'Estado',
    recording: 'Grabación', open: 'Ver', prev: 'Anteriores', next: 'Siguientes',
    found: '{n} llamadas', none: 'Ninguna llamada con esos filtros', detail: 'Detalle de la llamada',
    timeline: 'Cronología', download: 'Descargar', deleted: 'Grabación borrada por la política de conservación',
    noRecording: 'Sin grabación', disk: 'Grabaciones en disco: {mb} MB en {n} ficheros',
    retention: 'Conservación', forever: 'siempre', days: '{n} días', close: 'Cerrar',
    score: 'Puntuación', breakdown: 'Desglose', candidates: 'Candidatos',
    kinds: {
      entered_queue: 'Entra en la cola', dialled: 'Llamada saliente', rung: 'Suena el agente',
      ring_missed: 'No contesta', ring_ended: 'Deja de sonar', answered: 'Contestada',
      recording_started: 'Empieza la grabación', recording_paused: 'Grabación en pausa',
      recording_resumed: 'Grabación reanudada', recording_filed: 'Grabación archivada',
      recording_deleted: 'Grabación borrada', held: 'En espera', unheld: 'Recuperada',
      transferred: 'Transferida', consulting: 'Consulta a un compañero', supervised: 'Supervisión',
      supervision_ended: 'Fin de la supervisión', ended: 'Fin de la llamada', wrap_up: 'Cierre',
    },
  },
  en: {
    title: 'Call history', from: 'From', to: 'To', queue: 'Queue', agent: 'Agent',
    customer: 'Customer (name or phone)', disposition: 'Disposition', direction: 'Direction',
    minDuration: 'Min. duration (s)', maxDuration: 'Max. duration (s)', any: 'Any',
    inbound: 'Inbound', outbound: 'Outbound', onlyRecorded: 'Recorded only', search: 'Search',
    when: 'Date', caller: 'Caller', wait: 'Wait', talk: 'Talk', state: 'State',
    recording: 'Recording', open: 'Open', prev: 'Previous', next: 'Next',
    found: '{n} calls', none: 'No call matches these filters', detail: 'Call detail',
    timeline: 'Timeline', download: 'Download', deleted: 'Recording deleted by the retention policy',
    noRecording: 'Not recorded', disk: 'Recordings on disk: {mb} MB in {n} files',
    retention: 'Retention', forever: 'for ever', days: '{n} days', close: 'Close',
    score: 'Score', breakdown: 'Breakdown', candidates: 'Candidates',
    kinds: {
      entered_queue: 'Entered the queue', dialled: 'Outbound call', rung: 'Agent rung',
      ring_missed: 'Not answered', ring_ended: 'Stopped ringing', answered: 'Answered',
      recording_started: 'Recording started', recording_paused: 'Recording paused',
      recording_resumed: 'Recording resumed', recording_filed: 'Recording filed',
      recording_deleted: 'Recording deleted', held: 'On hold', unheld: 'Off hold',
      transferred: 'Transferred', consulting: 'Consulting a colleague', supervised: 'Supervised',
      supervision_ended: 'Supervision ended', ended: 'Call ended', wrap_up: 'Wrap-up',
    },
  },
};

function s(key, vars = {}) {
  const dict = S[lang()] || S.es;
  const text = key.split('.').reduce((o, k) => (o ? o[k] : undefined), dict) ?? key;
  return String(text).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');
}

const when = (iso) => (iso ? new Date(parseTs(iso)).toLocaleString(lang()) : '');
const PAGE = 25;

export function callsPage(main, user) {
  const field = (name, attrs = {}) => h('input', { name, testid: `f-${name}`, ...attrs });
  const f = {
    from: field('from', { type: 'date' }), to: field('to', { type: 'date' }),
    queue: field('queue', { maxlength: 40 }), agent: field('agent', { maxlength: 16, inputmode: 'numeric' }),
    customer: field('customer', { maxlength: 160 }),
    disposition: h('select', { name: 'disposition', testid: 'f-disposition' },
      h('option', { value: '' }, s('any')), DISPOSITIONS.map((d) => h('option', { value: d }, t(`dispositions.${d}`)))),
    direction: h('select', { name: 'direction', testid: 'f-direction' },
      ['', 'inbound', 'outbound'].map((d) => h('option', { value: d }, d ? s(d) : s('any')))),
    min_duration: field('min_duration', { type: 'number', min: 0 }),
    max_duration: field('max_duration', { type: 'number', min: 0 }),
  };
  const recorded = h('input', { type: 'checkbox', testid: 'f-recorded' });
  const err = h('p', { class: 'error', role: 'alert', testid: 'calls-error' });
  const info = h('p', { class: 'hint', testid: 'calls-info', 'aria-live': 'polite' });
  const disk = h('p', { class: 'hint', testid: 'calls-disk' });
  const table = h('table', { class: 'grid', testid: 'calls-table' });
  const pager = h('div', { class: 'row' });
  const detail = h('section', { class: 'panel', testid: 'call-detail', hidden: true, 'aria-label': s('detail') });
  let offset = 0;

  const labelled = (key, input) => h('label', {}, s(key), input);
  const form = h('form', {
    class: 'row admin-form', testid: 'calls-filters', role: 'search',
    onsubmit: (e) => { e.preventDefault(); offset = 0; load(); },
  },
  labelled('from', f.from), labelled('to', f.to), labelled('queue', f.queue),
  user.role === 'agent' ? '' : labelled('agent', f.agent), labelled('customer', f.customer),
  labelled('disposition', f.disposition), labelled('direction', f.direction),
  labelled('minDuration', f.min_duration), labelled('maxDuration', f.max_duration),
  h('label', { class: 'row' }, recorded, s('onlyRecorded')),
  h('button', { type: 'submit', class: 'go', testid: 'calls-search' }, s('search')));
  main.append(h('h2', {}, s('title')), form, err, info, disk, table, pager, detail);

  function query() {
    const q = new URLSearchParams();
    for (const [name, input] of Object.entries(f)) {
      const v = input.value.trim();
      if (v && !(name === 'agent' && user.role === 'agent')) q.set(name, v);
    }
    q.set('limit', PAGE);
    q.set('offset', offset);
    return q;
  }

  async function load() {
    err.textContent = '';
    try {
      const body = await api('GET', `/api/v1/${recorded.checked ? 'recordings' : 'calls'}?${query()}`);
      render(body);
    } catch (ex) {
      err.textContent = ex.body && ex.body.field ? `${ex.body.field}: ${ex.message}` : ex.message;
    }
  }

  function render(body) {
    info.textContent = body.total ? s('found', { n: body.total }) : s('none');
    if (body.disk) {
      const mb = (body.disk.bytes / 1e6).toFixed(1);
      const kept = (body.retention || []).map((r) => `${r.queue}: ${r.days ? s('days', { n: r.days }) : s('forever')}`);
      disk.textContent = `${s('disk', { mb, n: body.disk.files })}${kept.length ? ` · ${s('retention')}: ${kept.join(', ')}` : ''}`;
    }
    const head = h('tr', {}, [s('when'), s('direction'), s('queue'), s('caller'), s('agent'), s('wait'), s('talk'),
      s('disposition'), s('recording'), ''].map((c) => h('th', { scope: 'col' }, c)));
    clear(table).append(h('thead', {}, head), h('tbody', {}, body.calls.map((c) => h('tr', { 'data-call': c.id },
      h('td', {}, when(c.entered_at)), h('td', {}, s(c.direction)), h('td', {}, c.queue || ''),
      h('td', {}, c.customer_name ? `${c.customer_name} (${c.caller_number})` : c.caller_number),
      h('td', {}, c.agent_extension || ''), h('td', {}, c.wait_s == null ? '' : fmtDuration(c.wait_s)),
      h('td', {}, fmtDuration(c.talk_s)), h('td', {}, c.disposition ? t(`dispositions.${c.disposition}`) : ''),
      h('td', {}, !c.recording ? '' : c.recording.available ? s('recording') : s('deleted')),
      h('td', {}, h('button', { testid: `open-${c.id}`, onclick: () => open(c.id) }, s('open')))))));
    clear(pager).append(
      h('button', { disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, s('prev')),
      h('button', { disabled: offset + PAGE >= body.total, onclick: () => { offset += PAGE; load(); } }, s('next')));
  }

  function audioUrl(rec, download) {
    const q = new URLSearchParams({ token: (tokens() || {}).access || '' });
    if (download) q.set('download', '1');
    return `${rec.url}?${q}`;
  }

  function player(rec) {
    if (!rec) return h('p', { class: 'hint' }, s('noRecording'));
    if (!rec.available) return h('p', { class: 'hint', testid: 'recording-deleted' }, s('deleted'));
    const audio = h('audio', { controls: true, preload: 'metadata', testid: 'recording-player', src: audioUrl(rec, false), 'aria-label': s('recording') });
    let retried = false;
    audio.addEventListener('error', async () => { // an access token expired meanwhile: once more
      if (retried) return;
      retried = true;
      const at = audio.currentTime;
      try { await refresh(); } catch { return; }
      audio.src = audioUrl(rec, false);
      audio.currentTime = at;
    });
    const link = h('a', { href: '#', testid: 'recording-download', onclick: async (e) => {
      e.preventDefault();
      await refresh().catch(() => {}); // a fresh token in the link
      location.assign(audioUrl(rec, true));
    } }, s('download'));
    return h('div', { class: 'row' }, audio, link);
  }

  function step(x) {
    const extra = [];
    if (x.agent_extension) extra.push(`${s('agent')} ${x.agent_extension}`);
    if (x.queue) extra.push(`${s('queue')} ${x.queue}`);
    for (const k of ['state', 'mode', 'to', 'reason', 'disposition', 'notes']) {
      if (x[k]) extra.push(k === 'disposition' ? t(`dispositions.${x[k]}`) : String(x[k]));
    }
    const item = h('li', { 'data-kind': x.kind, testid: `step-${x.kind}` },
      h('time', { datetime: x.at }, new Date(parseTs(x.at)).toLocaleTimeString(lang())), ' ',
      h('strong', {}, s(`kinds.${x.kind}`)), extra.length ? ` · ${extra.join(' · ')}` : '');
    if (x.kind === 'rung' && x.candidates && x.candidates.length) {
      item.append(h('table', { class: 'grid', testid: 'step-scores', 'aria-label': s('candidates') },
        h('thead', {}, h('tr', {}, [s('agent'), s('score'), s('breakdown')].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, x.candidates.map((c) => h('tr', { 'data-ext': c.extension, class: c.extension === x.agent_extension ? 'chosen' : '' },
          h('td', {}, c.extension), h('td', { 'data-score': c.score }, String(c.score)),
          h('td', {}, Object.entries(c.breakdown || {}).map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`).join(', ')))))));
    }
    return item;
  }

  async function open(id) {
    err.textContent = '';
    try {
      const body = await api('GET', `/api/v1/calls/${encodeURIComponent(id)}`);
      const c = body.call;
      detail.hidden = false;
      detail.dataset.call = c.id;
      clear(detail).append(
        h('h3', {}, `${s('detail')}: ${when(c.entered_at)}`),
        h('p', {}, [s(c.direction), c.queue, c.customer_name || c.caller_number, c.agent_extension ? `${s('agent')} ${c.agent_extension}` : '',
          `${s('talk')} ${fmtDuration(c.talk_s)}`].filter(Boolean).join(' · ')),
        player(c.recording),
        h('h4', {}, s('timeline')), h('ol', { class: 'timeline', testid: 'call-timeline' }, body.timeline.map(step)),
        h('button', { onclick: () => { detail.hidden = true; history.replaceState({}, '', '/calls'); } }, s('close')));
      history.replaceState({}, '', `/calls?call=${encodeURIComponent(c.id)}`);
      detail.scrollIntoView({ block: 'start' });
    } catch (ex) {
      err.textContent = ex.message;
    }
  }

  load();
  const wanted = new URLSearchParams(location.search).get('call');
  if (wanted) open(wanted);
  return () => {
    const audio = detail.querySelector('audio');
    if (audio) { audio.pause(); audio.removeAttribute('src'); }
  };
}
