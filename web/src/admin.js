// Admin pages: agents, queues, trunks, DIDs and media nodes (the same
// operations as `aitcomms agent|queue|trunk|did|node`, applied at once
// without a restart), and
// the dialplan versions (history, diff of what apply would change, apply,
// roll back to a version: /api/v1/dialplan, as `aitcomms dialplan`).
import { api } from './api.js';
import { h, clear, parseTs } from './dom.js';
import { t } from './i18n.js';
import { usersSection, testCallSection, loginField, loginNote } from './users.js';
import { kbSection, speechSection } from './kb.js';
import { nodesSection } from './nodes.js';

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


const csv = (v) => v.split(',').map((x) => x.trim()).filter(Boolean);
const int = (v) => (v === '' ? undefined : Number(v));

// One managed collection: a table of what exists and a form that creates or
// edits (filled by a row's edit button); each change reloads the table.
function managed({ id, title, columns, load, cells, fields, create, update, remove, key, actions }) {
  const table = h('table', { class: 'grid', testid: `admin-${id}` });
  const msg = h('p', { class: 'hint', testid: `${id}-message`, role: 'status' });
  const inputs = Object.fromEntries(fields.map((f) => [f.name, f.type === 'checkbox'
    ? h('input', { type: 'checkbox', testid: `${id}-${f.name}`, checked: f.checked })
    : h('input', { testid: `${id}-${f.name}`, placeholder: f.placeholder || '', type: f.type || 'text', size: f.size || 12, list: f.list })]));
  let editing = null;
  const save = h('button', { type: 'submit', class: 'go', testid: `${id}-save` }, t('save'));
  const cancel = h('button', { type: 'button', testid: `${id}-cancel`, hidden: true, onclick: () => reset() }, t('cancel'));
  const values = () => Object.fromEntries(fields.map((f) => [f.name, f.type === 'checkbox' ? inputs[f.name].checked : inputs[f.name].value.trim()]));
  function reset() {
    editing = null;
    for (const f of fields) {
      if (f.type === 'checkbox') inputs[f.name].checked = !!f.checked; else inputs[f.name].value = '';
      inputs[f.name].disabled = false;
    }
    save.textContent = t('create');
    cancel.hidden = true;
  }
  async function run(fn, done) {
    msg.textContent = '…';
    delete msg.dataset.result;
    try {
      const r = await fn();
      msg.textContent = done(r);
      msg.dataset.result = 'ok';
      await refresh();
      return true;
    } catch (ex) {
      msg.textContent = [ex.body && ex.body.field, ex.message].filter(Boolean).join(': ');
      msg.dataset.result = 'error';
      return false;
    }
  }
  async function refresh() {
    const items = await load();
    clear(table).append(h('tbody', {}, h('tr', {}, [...columns, ''].map((c) => h('th', {}, c))),
      items.map((item) => h('tr', { 'data-key': key(item) }, cells(item).map((c) => h('td', {}, c)),
        h('td', {},
          update ? h('button', { testid: `${id}-edit-${key(item)}`, onclick: () => edit(item) }, t('edit')) : '',
          actions ? actions(item, run) : '',
          h('button', { class: 'stop', testid: `${id}-delete-${key(item)}`, onclick: () => {
            if (window.confirm(`${t('delete')} ${key(item)}?`)) run(() => remove(item), () => `${t('deleted')}: ${key(item)}`);
          } }, t('delete')))))));
  }
  function edit(item) {
    editing = item;
    for (const f of fields) {
      const v = f.from ? f.from(item) : item[f.name];
      if (f.type === 'checkbox') inputs[f.name].checked = !!v; else inputs[f.name].value = v ?? '';
      inputs[f.name].disabled = !!f.key || !!f.createOnly;
    }
    save.textContent = t('save');
    cancel.hidden = false;
  }
  const form = h('form', {
    class: 'row admin-form', onsubmit: async (e) => {
      e.preventDefault();
      const v = values();
      const ok = editing
        ? await run(() => update(editing, v), () => `${t('saved')}: ${key(editing)}`)
        : await run(() => create(v), (r) => `${t('created')}: ${r.label}${r.note ? ` · ${r.note}` : ''}`);
      if (ok) reset();
    },
  }, fields.map((f) => h('label', {}, f.label, inputs[f.name])), save, cancel);
  reset();
  const el = h('section', { testid: `admin-${id}-section` }, h('h2', {}, title), table, form, msg);
  refresh().catch((ex) => { msg.textContent = ex.message; });
  return { el, refresh };
}

function agentsSection(onLogin) {
  return managed({
    id: 'agents', title: t('agents'), key: (a) => a.extension,
    columns: [t('extension'), t('name'), t('skills'), t('languages'), t('status')],
    load: async () => (await api('GET', '/api/v1/agents')).agents,
    cells: (a) => [a.extension, a.name, a.skills.join(', '), a.languages.join(', '), t(a.status)],
    fields: [
      { name: 'extension', label: t('extension'), key: true, size: 6 },
      { name: 'name', label: t('name'), size: 18 },
      { name: 'password', label: t('sipPassword'), type: 'password', placeholder: t('passwordHint') },
      { name: 'skills', label: t('skills'), from: (a) => a.skills.join(', '), placeholder: 'auto, home' },
      { name: 'languages', label: t('languages'), from: (a) => a.languages.join(', '), placeholder: 'es, en', size: 8 },
      loginField(),
    ],
    create: async (v) => {
      const r = await api('POST', '/api/v1/agents', {
        extension: v.extension, name: v.name, password: v.password || undefined,
        skills: csv(v.skills), languages: csv(v.languages), user_email: v.user_email || undefined,
      });
      if (r.user) onLogin(); // the users' table shows the new login
      const notes = [r.generated_password ? `${t('generatedPassword')}: ${r.generated_password}` : '', loginNote(r)];
      return { label: r.agent.extension, note: notes.filter(Boolean).join(' · ') };
    },
    update: (a, v) => api('PATCH', `/api/v1/agents/${a.extension}`, {
      name: v.name, skills: csv(v.skills), languages: csv(v.languages), password: v.password || undefined,
    }),
    remove: (a) => api('DELETE', `/api/v1/agents/${a.extension}`),
  });
}

const WEIGHTS = ['previous_agent', 'language', 'skill', 'call_today'];
const QUEUE_NUMBERS = ['wrapup_s', 'ring_timeout_s', 'max_misses', 'max_wait_s', 'service_level_s', 'announce_every_s'];
// members as "1001, 1002:5" (extension[:penalty])
const members = (v) => csv(v).map((m) => { const [ext, pen] = m.split(':'); return { extension: ext.trim(), penalty: Number(pen || 0) }; });

function queuesSection() {
  async function syncMembers(name, wanted, had) {
    for (const m of wanted) {
      const old = had.find((x) => x.extension === m.extension);
      if (!old || old.penalty !== m.penalty) await api('PUT', `/api/v1/queues/${name}/members/${m.extension}`, { penalty: m.penalty });
    }
    for (const m of had) if (!wanted.some((x) => x.extension === m.extension)) await api('DELETE', `/api/v1/queues/${name}/members/${m.extension}`);
  }
  const settings = (v) => ({
    skills: csv(v.skills), language: v.language || undefined, record: v.record,
    ...Object.fromEntries(QUEUE_NUMBERS.filter((n) => v[n] !== '').map((n) => [n, int(v[n])])),
  });
  return managed({
    id: 'queues', title: t('queues'), key: (q) => q.name,
    columns: [t('name'), t('skills'), t('language'), t('wrapupS'), t('ringS'), t('maxWaitS'), t('slS'), t('weights'), t('members')],
    load: async () => (await api('GET', '/api/v1/queues')).queues,
    cells: (q) => [q.name, q.skills.join(', '), q.language, q.wrapup_s, q.ring_timeout_s, q.max_wait_s, q.service_level_s,
      WEIGHTS.map((w) => `${w} ${q.weights[w]}`).join(' · '), q.members.map((m) => m.penalty ? `${m.extension}:${m.penalty}` : m.extension).join(', ')],
    fields: [
      { name: 'name', label: t('name'), key: true, size: 10 },
      { name: 'skills', label: t('skills'), from: (q) => q.skills.join(', '), size: 10 },
      { name: 'language', label: t('language'), size: 3 },
      ...QUEUE_NUMBERS.map((n) => ({ name: n, label: t(`queueFields.${n}`), type: 'number', size: 4 })),
      { name: 'record', label: t('record_calls'), type: 'checkbox', checked: true },
      { name: 'weights', label: t('weights'), from: (q) => WEIGHTS.map((w) => `${w}=${q.weights[w]}`).join(', '), placeholder: 'language=30', size: 24 },
      { name: 'members', label: t('members'), from: (q) => q.members.map((m) => `${m.extension}:${m.penalty}`).join(', '), placeholder: '1001, 1002:5', size: 14 },
    ],
    create: async (v) => {
      const wanted = members(v.members);
      const r = await api('POST', '/api/v1/queues', { name: v.name, ...settings(v), members: wanted.map((m) => m.extension) });
      await syncMembers(v.name, wanted, r.queue.members);
      if (v.weights) await api('PATCH', `/api/v1/queues/${v.name}`, { weights: weights(v.weights) });
      return { label: r.queue.name };
    },
    update: async (q, v) => {
      await api('PATCH', `/api/v1/queues/${q.name}`, { ...settings(v), ...(v.weights ? { weights: weights(v.weights) } : {}) });
      await syncMembers(q.name, members(v.members), q.members);
    },
    remove: (q) => api('DELETE', `/api/v1/queues/${q.name}`),
  });
}

function weights(v) {
  return Object.fromEntries(csv(v).map((kv) => { const [k, n] = kv.split('='); return [k.trim(), Number(n)]; }));
}

function trunksSection() {
  return managed({
    id: 'trunks', title: t('trunks'), key: (x) => x.name,
    columns: [t('name'), t('host'), t('address'), t('port')],
    load: async () => (await api('GET', '/api/v1/trunks')).trunks,
    cells: (x) => [x.name, x.host, x.address, x.port],
    fields: [
      { name: 'name', label: t('name'), size: 10 },
      { name: 'host', label: t('host'), placeholder: '192.0.2.10' },
      { name: 'port', label: t('port'), type: 'number', size: 5, placeholder: '5060' },
    ],
    create: async (v) => {
      const r = await api('POST', '/api/v1/trunks', { name: v.name, host: v.host, port: int(v.port) });
      return { label: r.trunk.name, note: r.trunk.address };
    },
    remove: (x) => api('DELETE', `/api/v1/trunks/${x.name}`),
  });
}

function didsSection(targets) {
  return managed({
    id: 'dids', title: t('dids'), key: (x) => x.number,
    columns: [t('number'), t('target')],
    load: async () => (await api('GET', '/api/v1/dids')).dids,
    cells: (x) => [x.number, x.target],
    fields: [
      { name: 'number', label: t('number'), key: true, placeholder: '+34910000001', size: 14 },
      { name: 'target', label: t('target'), placeholder: 'queue:autos · ext:1001 · ivr:seguros', size: 18, list: targets },
    ],
    create: async (v) => {
      const r = await api('POST', '/api/v1/dids', { number: v.number, target: v.target });
      return { label: `${r.did.number} → ${r.did.target}` };
    },
    update: (x, v) => api('PATCH', `/api/v1/dids/${encodeURIComponent(x.number)}`, { target: v.target }),
    remove: (x) => api('DELETE', `/api/v1/dids/${encodeURIComponent(x.number)}`),
  });
}

export function adminPage(main) {
  // the DID form suggests what exists: agents' extensions and queues
  const targets = h('datalist', { id: 'did-targets' });
  const callTargets = h('datalist', { id: 'call-targets' }); // the test call's: numbers too
  async function suggest() {
    const [a, q, d] = await Promise.all([api('GET', '/api/v1/agents'), api('GET', '/api/v1/queues'), api('GET', '/api/v1/dids')]);
    clear(targets).append(...q.queues.map((x) => h('option', { value: `queue:${x.name}` })),
      ...a.agents.map((x) => h('option', { value: `ext:${x.extension}` })));
    clear(callTargets).append(...d.dids.map((x) => h('option', { value: x.number })),
      ...a.agents.map((x) => h('option', { value: x.extension })), ...q.queues.map((x) => h('option', { value: `queue:${x.name}` })));
  }
  const users = usersSection(managed);
  const sections = [users, agentsSection(() => users.refresh().catch(() => {})), queuesSection(), trunksSection(), didsSection('did-targets'),
    nodesSection(managed), speechSection(managed), kbSection(managed)];
  main.append(targets, callTargets, testCallSection('call-targets'), ...sections.map((x) => x.el), dialplanSection());
  suggest().catch(() => {});
  // a change in one (a new agent) is a choice in the others (queue members, DIDs)
  main.addEventListener('submit', () => setTimeout(() => { suggest().catch(() => {}); }, 1000));
  return null;
}
