// The agent's CRM side of the desktop: find a customer (name, phone, DNI or
// e-mail), open the record (policies, claims, last interactions, open tasks)
// and call a number of it, or work the open callback tasks, with one click
// (click-to-call: the agent's own phone rings and answers by itself, then
// the customer's).
import { api } from './api.js';
import { h, clear } from './dom.js';
import { t } from './i18n.js';
import { transcriptDetails } from './captions.js';

const DNI_RE = /^[0-9XYZxyz][0-9]{7}[A-Za-z]$/;

// what the agent typed, as the search API's criterion
function criterion(text) {
  const v = text.trim();
  if (DNI_RE.test(v.replace(/[\s-]/g, ''))) return { dni: v };
  if (/^\+?[0-9 ().-]{6,}$/.test(v)) return { phone: v };
  if (v.includes('@')) return { email: v };
  return { q: v };
}

const when = (s) => (s || '').slice(0, 16).replace('T', ' ');

export function customerPanel({ dial }) {
  const input = h('input', { type: 'search', testid: 'crm-search', placeholder: t('searchHint'), 'aria-label': t('searchCustomer') });
  const results = h('ul', { class: 'results', testid: 'crm-results' });
  const record = h('div', { class: 'record', testid: 'crm-record' });
  const tasks = h('div', { class: 'tasks', testid: 'my-tasks' });
  const msg = h('p', { class: 'hint', testid: 'crm-message', role: 'status' });

  async function call(req, button) {
    msg.textContent = '';
    button.disabled = true;
    try {
      const r = await dial(req);
      msg.textContent = `${t('calling')} ${r.caller_number}`;
      msg.dataset.call = r.id;
    } catch (ex) {
      msg.textContent = ex.message;
    } finally { button.disabled = false; }
  }

  const callButton = (testid, req) => {
    const b = h('button', { testid, class: 'go', onclick: () => call(req, b) }, t('call'));
    return b;
  };

  async function search(e) {
    if (e) e.preventDefault();
    clear(results);
    if (!input.value.trim()) return;
    try {
      const r = await api('GET', `/api/v1/customers?${new URLSearchParams({ ...criterion(input.value), limit: 10 })}`);
      if (!r.customers.length) results.append(h('li', { class: 'muted' }, t('none')));
      for (const c of r.customers) {
        results.append(h('li', {},
          h('a', { href: '#', testid: `crm-open-${c.id}`, onclick: (ev) => { ev.preventDefault(); open(c.id); } },
            c.name), ' ', h('span', { class: 'muted' }, [c.dni, ...(c.phones || [])].filter(Boolean).join(' · '))));
      }
    } catch (ex) { msg.textContent = ex.message; }
  }

  const list = (title, id, items, fmt) => h('div', { class: 'pop-list', testid: id }, h('h4', {}, title),
    items && items.length ? h('ul', {}, items.map((i) => h('li', {}, fmt(i)))) : h('p', { class: 'muted' }, t('none')));

  async function open(id) {
    try {
      const ctx = await api('GET', `/api/v1/customers/${id}/context`);
      const c = ctx.customer;
      clear(record).append(
        h('h3', { testid: 'crm-record-name' }, c.name, c.segment === 'vip' ? h('span', { class: 'badge vip' }, t('vip')) : ''),
        h('p', { class: 'muted' }, [c.dni, c.email, c.language].filter(Boolean).join(' · ')),
        h('ul', { class: 'phones' }, (c.phones || []).map((p) => h('li', {}, p, ' ',
          callButton(`crm-call-${p.replace(/\D/g, '')}`, { to: p, customer_id: c.id })))),
        list(t('policies'), 'crm-policies', ctx.policies, (x) => `${x.number} · ${x.type} · ${x.carrier} · ${x.premium} € · ${x.end_date}`),
        list(t('claims'), 'crm-claims', ctx.claims, (x) => `${x.number} · ${x.status}`),
        list(t('interactions'), 'crm-interactions', ctx.interactions, (x) => h('span', {}, `${when(x.started_at)} · ${x.direction} · ${x.disposition || x.outcome}`,
          x.call_id ? transcriptDetails(x.call_id) : '')),
        list(t('tasks'), 'crm-tasks', ctx.tasks, (x) => h('span', {}, `${when(x.scheduled_at)} · ${t(`taskKinds.${x.kind}`)} · ${x.notes || ''} `,
          x.kind === 'callback' ? callButton(`crm-task-call-${x.id}`, { task_id: x.id }) : '')));
      record.dataset.customer = c.id;
    } catch (ex) { msg.textContent = ex.message; }
  }

  async function loadTasks() {
    try {
      const r = await api('GET', '/api/v1/tasks?limit=20');
      clear(tasks).append(h('h4', {}, t('myTasks')), r.tasks.length
        ? h('ul', {}, r.tasks.map((x) => h('li', { 'data-task': x.id },
          `${when(x.scheduled_at)} · ${t(`taskKinds.${x.kind}`)} · ${x.phone || ''} · ${x.notes || ''} `,
          x.kind === 'callback' ? callButton(`task-call-${x.id}`, { task_id: x.id }) : '',
          x.customer_id ? h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); open(x.customer_id); } }, t('record')) : '')))
        : h('p', { class: 'muted' }, t('none')));
    } catch (ex) { msg.textContent = ex.message; }
  }

  const el = h('section', { class: 'panel crm', testid: 'crm' },
    h('h3', {}, t('customers')),
    h('form', { class: 'row', onsubmit: search }, input, h('button', { type: 'submit', testid: 'crm-search-go' }, t('search'))),
    results, msg, record, tasks);
  // after a call that worked a task: the lists without it (once the CRM wrote it)
  function refresh() {
    loadTasks();
    if (record.dataset.customer) open(record.dataset.customer);
  }
  loadTasks();
  return { el, open, loadTasks, refresh };
}
