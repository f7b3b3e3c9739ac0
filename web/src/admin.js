// Admin pages: the agents (more to come: queues, trunks/DIDs, dialplan
// versions, which today are run with the `aitcomms` CLI).
import { api } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';

export function adminPage(main) {
  const table = h('table', { class: 'grid', testid: 'admin-agents' });
  const msg = h('p', { class: 'hint' }, 'aitcomms agent | queue | trunk | did | dialplan …');
  main.append(h('h2', {}, t('agents')), table, msg);
  api('GET', '/api/v1/agents').then((r) => {
    table.append(h('tr', {}, [t('extension'), t('name'), t('skills'), t('languages'), t('status')].map((c) => h('th', {}, c))),
      r.agents.map((a) => h('tr', {}, [a.extension, a.name, a.skills.join(', '), a.languages.join(', '), t(a.status)].map((c) => h('td', {}, c)))));
  }).catch((ex) => { msg.textContent = ex.message; });
  return null;
}
