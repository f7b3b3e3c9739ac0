// Outbound campaigns. Supervisors and admins: each phone campaign's live
// wallboard (campaign.stats: dialled, answered, machines, abandoned % over
// the campaign's window against its cap, lines per agent, talk minutes per
// agent-hour, list penetration), start / stop, the dialing settings, and
// CSV imports of the calling list and the do-not-call lists with the
// row-by-row report. Agents: campaign mode — the lead's screen pop and
// script when a campaign call is put through (campaign.lead), dispositions
// that drive the retries, a call-back scheduler, and preview dialing.
import { api } from './api.js';
import { EventStream } from './events.js';
import { h, clear } from './dom.js';
import { lang } from './i18n.js';

const WORDS = {
  es: {
    campaigns: 'Campañas', dialled: 'Marcadas', answered: 'Contestadas', machines: 'Contestadores',
    abandoned: 'Abandonadas', abandonedPct: '% abandono', cap: 'límite', linesPerAgent: 'Líneas/agente',
    talkPerHour: 'Min. conversación/agente-hora', penetration: 'Penetración', live: 'En curso',
    start: 'Iniciar', stop: 'Parar', running: 'marcando', stopped: 'parada', settings: 'Ajustes (JSON)',
    save: 'Guardar', importList: 'Importar lista (CSV)', importDnc: 'No llamar (campaña)', importGlobalDnc: 'No llamar (global)',
    imported: 'importadas', rejected: 'rechazadas', line: 'línea', reason: 'motivo', lead: 'Cliente potencial',
    script: 'Guion', disposition: 'Resultado', callBackAt: 'Volver a llamar el', schedule: 'Programar',
    next: 'Siguiente', dial: 'Marcar', skip: 'Saltar', noDialing: 'sin ajustes de marcación', window: 'ventana', level: 'nivel', held: 'retenido',
    waitingLead: 'Esperando una llamada de campaña…', saved: 'Guardado',
  },
  en: {
    campaigns: 'Campaigns', dialled: 'Dialled', answered: 'Answered', machines: 'Machines',
    abandoned: 'Abandoned', abandonedPct: 'Abandoned %', cap: 'cap', linesPerAgent: 'Lines/agent',
    talkPerHour: 'Talk min/agent-hour', penetration: 'Penetration', live: 'Live',
    start: 'Start', stop: 'Stop', running: 'dialing', stopped: 'stopped', settings: 'Settings (JSON)',
    save: 'Save', importList: 'Import list (CSV)', importDnc: 'Do not call (campaign)', importGlobalDnc: 'Do not call (global)',
    imported: 'imported', rejected: 'rejected', line: 'line', reason: 'reason', lead: 'Lead',
    script: 'Script', disposition: 'Disposition', callBackAt: 'Call back at', schedule: 'Schedule',
    next: 'Next', dial: 'Dial', skip: 'Skip', noDialing: 'no dialing settings', window: 'window', level: 'level', held: 'held',
    waitingLead: 'Waiting for a campaign call…', saved: 'Saved',
  },
};
const w = (key) => (WORDS[lang()] || WORDS.en)[key] || key;

function reportTable(report) {
  return h('div', { class: 'report', testid: 'import-report' },
    h('p', {}, `${report.imported} ${w('imported')}, ${report.rejected} ${w('rejected')}`),
    report.rows.length ? h('table', { class: 'grid' }, h('tbody', {},
      h('tr', {}, h('th', {}, w('line')), h('th', {}, ''), h('th', {}, w('reason'))),
      report.rows.map((r) => h('tr', { 'data-line': r.line ?? r.lead_id },
        h('td', {}, r.line ?? r.lead_id), h('td', {}, r.value || ''), h('td', {}, r.reason))))) : '');
}

function fileImport(label, testid, path, out) {
  const input = h('input', { type: 'file', accept: '.csv,text/csv,text/plain', testid });
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    try {
      const r = await api('POST', path, { csv: await file.text() });
      clear(out).append(reportTable(r.report));
    } catch (ex) { clear(out).append(h('p', { class: 'error' }, ex.message)); }
    input.value = '';
  });
  return h('label', {}, label, input);
}

function figuresRow(f) {
  const live = f.live || {};
  const over = f.abandoned_pct > f.abandon_cap_pct;
  return [f.dialled, f.answered, f.machines, f.abandoned,
    h('span', { class: over ? 'bad' : 'ok', testid: 'abandoned-pct' },
      `${f.abandoned_pct} % (${w('cap')} ${f.abandon_cap_pct} %, ${w('window')} ${Math.round(f.abandon_window_s / 3600)} h)`),
    // the lines out per free agent now, and the pacer's dial level (held: at the cap)
    live.dial_level == null ? (live.lines_per_agent ?? '–')
      : `${live.lines_per_agent ?? '–'} (${w('level')} ${live.dial_level.toFixed(2)}${live.held ? `, ${w('held')}` : ''})`,
    f.talk_minutes_per_agent_hour ?? '–', `${f.penetration_pct} %`,
    `${live.lines_out ?? 0} / ${live.connected ?? 0}`];
}

function supervisorView(main) {
  const box = h('div', { testid: 'campaigns' });
  const msg = h('p', { class: 'hint', testid: 'campaigns-message' });
  const globalOut = h('div');
  main.append(h('h2', {}, w('campaigns')), box,
    fileImport(w('importGlobalDnc'), 'dnc-global', '/api/v1/dnc', globalOut), globalOut, msg);
  const cards = new Map(); // campaign id -> {figures cell row, state}

  function card(c, dialing) {
    const figs = h('tr', { testid: `figures-${c.id}` });
    const state = h('span', { class: 'badge', testid: `state-${c.id}` });
    const out = h('div');
    const settings = h('textarea', { rows: 8, cols: 70, testid: `settings-${c.id}` });
    settings.value = JSON.stringify(dialing || { agents: [], mode: 'progressive' }, null, 2);
    const setState = (running) => {
      state.textContent = running ? w('running') : w('stopped');
      state.className = `badge ${running ? 'ok' : ''}`;
    };
    const run = (what) => async () => {
      try { setState((await api('POST', `/api/v1/campaigns/${c.id}/${what}`)).dialing.running); } catch (ex) { msg.textContent = ex.message; }
    };
    const save = async () => {
      try {
        const body = JSON.parse(settings.value);
        for (const k of ['campaign_id', 'running']) delete body[k];
        await api('PUT', `/api/v1/campaigns/${c.id}/dialing`, body);
        msg.textContent = w('saved');
      } catch (ex) { msg.textContent = ex.body && ex.body.field ? `${ex.body.field}: ${ex.message}` : ex.message; }
    };
    setState(dialing && dialing.running);
    const head = ['dialled', 'answered', 'machines', 'abandoned', 'abandonedPct', 'linesPerAgent', 'talkPerHour', 'penetration', 'live'];
    cards.set(c.id, { figs });
    return h('section', { class: 'campaign', 'data-campaign': c.id },
      h('h3', {}, c.name, ' ', state, ' ', h('button', { testid: `start-${c.id}`, onclick: run('start') }, w('start')),
        h('button', { testid: `stop-${c.id}`, onclick: run('stop') }, w('stop'))),
      h('table', { class: 'grid' }, h('tbody', {}, h('tr', {}, head.map((k) => h('th', {}, w(k)))), figs)),
      h('details', {}, h('summary', {}, w('settings')), settings, h('button', { onclick: save }, w('save'))),
      fileImport(w('importList'), `list-${c.id}`, `/api/v1/campaigns/${c.id}/list`, out),
      fileImport(w('importDnc'), `dnc-${c.id}`, `/api/v1/campaigns/${c.id}/dnc`, out), out);
  }

  function show(id, f) {
    const entry = cards.get(id);
    if (entry) clear(entry.figs).append(...figuresRow(f).map((x) => h('td', {}, x)));
  }

  async function load() {
    try {
      const r = await api('GET', '/api/v1/campaigns');
      clear(box);
      for (const c of r.campaigns.filter((x) => x.channel === 'phone')) {
        let dialing = null;
        try { dialing = (await api('GET', `/api/v1/campaigns/${c.id}/dialing`)).dialing; } catch { /* not dialled yet */ }
        box.append(card(c, dialing));
        if (dialing) show(c.id, (await api('GET', `/api/v1/campaigns/${c.id}/figures`)).figures);
      }
    } catch (ex) { msg.textContent = ex.message; }
  }

  const events = new EventStream((ev) => {
    if (ev.type === 'campaign.stats' && ev.data) show(ev.data.campaign_id, ev.data.figures);
  }, (s) => { if (s === 'connected') load(); });
  events.start();
  return () => events.stop();
}

function agentView(main, user) {
  const pop = h('section', { class: 'campaign-pop', testid: 'campaign-pop' }, h('p', { class: 'hint' }, w('waitingLead')));
  const msg = h('p', { class: 'hint', testid: 'campaign-message' });
  const preview = h('div', { testid: 'campaign-preview' });
  main.append(h('h2', {}, w('campaigns')), pop, preview, msg);

  function leadCard(lead, phone) {
    return h('div', { class: 'lead' }, h('h3', {}, `${w('lead')}: ${(lead && lead.name) || phone}`),
      h('p', {}, phone, lead && lead.email ? ` · ${lead.email}` : ''), lead && lead.notes ? h('p', {}, lead.notes) : '');
  }

  function screenPop(d) {
    const when = h('input', { type: 'datetime-local', testid: 'callback-at' });
    const dispose = async (code, callbackAt) => {
      try {
        await api('POST', `/api/v1/campaign-calls/${encodeURIComponent(d.call_id)}/disposition`,
          callbackAt ? { disposition: code, callback_at: callbackAt } : { disposition: code });
        msg.textContent = `${w('disposition')}: ${code}`;
        clear(pop).append(h('p', { class: 'hint' }, w('waitingLead')));
      } catch (ex) { msg.textContent = ex.message; }
    };
    clear(pop).append(leadCard(d.lead, d.phone),
      h('h4', {}, w('script')), h('pre', { class: 'script', testid: 'campaign-script' }, d.script || ''),
      h('h4', {}, w('disposition')),
      h('div', {}, (d.dispositions || []).map((x) => h('button', { testid: `dispo-${x.code}`, onclick: () => dispose(x.code) }, x.label || x.code))),
      h('p', {}, h('label', {}, w('callBackAt'), when),
        h('button', { testid: 'schedule-callback', onclick: () => {
          if (!when.value) return;
          const code = (d.dispositions || []).find((x) => !x.final && !x.dnc)?.code || 'call_back';
          dispose(code, new Date(when.value).toISOString());
        } }, w('schedule'))));
  }

  async function loadPreview() {
    clear(preview);
    try {
      const r = await api('GET', '/api/v1/campaigns');
      for (const c of r.campaigns.filter((x) => x.channel === 'phone')) {
        let dialing;
        try { dialing = (await api('GET', `/api/v1/campaigns/${c.id}/dialing`)).dialing; } catch { continue; }
        if (dialing.mode !== 'preview' || !dialing.agents.includes(user.agent_extension)) continue;
        const slot = h('div');
        const decide = (entry, action) => async () => {
          try { await api('POST', `/api/v1/campaigns/${c.id}/preview/${entry.id}`, { action }); clear(slot); } catch (ex) { msg.textContent = ex.message; }
        };
        const next = async () => {
          try {
            const p = await api('POST', `/api/v1/campaigns/${c.id}/preview`, {});
            clear(slot).append(leadCard(p.lead, p.entry.phone), h('pre', { class: 'script' }, p.script || ''),
              h('button', { testid: 'preview-dial', onclick: decide(p.entry, 'dial') }, w('dial')),
              h('button', { testid: 'preview-skip', onclick: decide(p.entry, 'skip') }, w('skip')));
          } catch (ex) { msg.textContent = ex.message; }
        };
        preview.append(h('h3', {}, c.name), h('button', { testid: `preview-next-${c.id}`, onclick: next }, w('next')), slot);
      }
    } catch (ex) { msg.textContent = ex.message; }
  }

  const events = new EventStream((ev) => {
    if (ev.type === 'campaign.lead' && ev.data && ev.data.agent_extension === user.agent_extension) screenPop(ev.data);
  }, (s) => { if (s === 'connected') loadPreview(); });
  events.start();
  return () => events.stop();
}

export function campaignsPage(main, user) {
  return user.role === 'agent' ? agentView(main, user) : supervisorView(main, user);
}
