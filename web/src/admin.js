// Admin pages: the agents, and the dialplan versions (history, diff of what
// apply would change, apply, roll back to a version: /api/v1/dialplan, the
// same operations as `aitcomms dialplan`). Queues, trunks and DIDs are run
// with the `aitcomms` CLI for now.
import { api } from './api.js';
import { h, clear, parseTs } from './dom.js';
import { t } from './i18n.js';

function diffView(text, testid) {
  return h('pre', { class: 'diff', testid },
    text.split('\n').map((line) => h('span', {
      class: line.startsWith('+') && !line.startsWith('+++') ? 'add' : line.startsWith('-') && !line.startsWith('---') ? 'del' : '',
    }, line + '\n')));
}

function dialplanSection() {
  const table = h('table', { class: 'grid', testid: 'dp-versions' });
  const msg = h('p', { class: 'hint', testid: 'dp-message', role: 'status' });
  const out = h('div', { testid: 'dp-output' });
  const busy = (on) => { for (const b of section.querySelectorAll('button')) b.disabled = on; };

  function failed(ex) {
    msg.dataset.result = 'error';
    msg.textContent = [ex.message, ...((ex.body && ex.body.errors) || [])].join(' · ');
  }

  async function load() {
    const r = await api('GET', '/api/v1/dialplan/versions');
    clear(table).append(h('tbody', {},
      h('tr', {}, [t('version'), t('time'), t('author'), t('action'), t('contexts'), ''].map((c) => h('th', {}, c))),
      [...r.versions].reverse().map((v) => h('tr', { 'data-version': v.id, 'data-running': v.running ? '1' : undefined },
        h('td', {}, v.id, v.running ? h('span', { class: 'badge ok' }, 'live') : ''),
        h('td', {}, new Date(parseTs(v.created_at)).toLocaleString()),
        h('td', {}, v.author),
        h('td', {}, v.action + (v.restored_from ? ` ← ${v.restored_from}` : '')),
        h('td', {}, v.contexts),
        h('td', {},
          h('button', { testid: `dp-show-${v.id}`, onclick: () => show(v.id) }, t('dpDiff')),
          h('button', { testid: `dp-rollback-${v.id}`, disabled: v.running, onclick: () => rollback(v.id) }, t('dpRollback')))))));
  }

  async function show(id) {
    try {
      const r = await api('GET', `/api/v1/dialplan/versions/${id}`);
      clear(out).append(h('h4', {}, `${t('version')} ${id}`), diffView(r.version.diff || '', 'dp-version-diff'));
    } catch (ex) { failed(ex); }
  }

  async function pending() {
    msg.textContent = '';
    try {
      const r = await api('GET', '/api/v1/dialplan/diff');
      clear(out).append(r.changed ? diffView(r.diff, 'dp-diff-text') : h('p', { testid: 'dp-diff-text', class: 'muted' }, t('dpNoDiff')));
      out.firstChild.dataset.changed = r.changed ? '1' : '0';
    } catch (ex) { failed(ex); }
  }

  async function change(fn) {
    msg.textContent = '…';
    delete msg.dataset.result;
    busy(true);
    try {
      const r = await fn();
      msg.dataset.result = r.version ? `version-${r.version.id}` : 'nothing';
      msg.textContent = r.version ? `${t('dpApplied')}: ${r.version.id} (${r.version.action})` : t('dpNothing');
      clear(out);
      if (r.diff) out.append(diffView(r.diff, 'dp-applied-diff'));
      await load();
    } catch (ex) { failed(ex); } finally { busy(false); }
  }
  const apply = () => change(() => api('POST', '/api/v1/dialplan/apply'));
  const rollback = (id) => change(() => api('POST', `/api/v1/dialplan/versions/${id}/rollback`));

  const section = h('section', { testid: 'admin-dialplan' },
    h('h2', {}, t('dialplanVersions')),
    h('div', { class: 'row' },
      h('button', { testid: 'dp-diff', onclick: pending }, t('dpDiff')),
      h('button', { testid: 'dp-apply', class: 'go', onclick: apply }, t('dpApply'))),
    msg, table, out);
  load().catch(failed);
  return section;
}

export function adminPage(main) {
  const table = h('table', { class: 'grid', testid: 'admin-agents' });
  const msg = h('p', { class: 'hint' }, 'aitcomms agent | queue | trunk | did …');
  main.append(h('h2', {}, t('agents')), table, msg, dialplanSection());
  api('GET', '/api/v1/agents').then((r) => {
    table.append(h('tbody', {}, h('tr', {}, [t('extension'), t('name'), t('skills'), t('languages'), t('status')].map((c) => h('th', {}, c))),
      r.agents.map((a) => h('tr', {}, [a.extension, a.name, a.skills.join(', '), a.languages.join(', '), t(a.status)].map((c) => h('td', {}, c))))));
  }).catch((ex) => { msg.textContent = ex.message; });
  return null;
}
