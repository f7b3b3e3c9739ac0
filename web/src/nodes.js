// The admin page's media nodes: the Asterisk instances behind Kamailio's
// dispatcher (the same operations as `aitcomms node`). Each row says what
// the database holds (state, weight) beside what the running edge sees now
// (probed up or down, calls on it); a drain stops new calls while the
// node's calls finish, and removing a node with calls up is refused by the
// API (its message is shown). Words, not colours, say each state; the last
// column says whether the routing control plane drives the node over ARI.
import { api } from './api.js';
import { h } from './dom.js';

const S = {
  es: {
    title: 'Nodos de medios', name: 'Nombre', address: 'Dirección SIP', weight: 'Peso', state: 'Estado',
    edge: 'Visto por Kamailio', calls: 'llamadas', up: 'responde', down: 'no responde', unknown: 'sin datos',
    active: 'activo', draining: 'vaciándose', drain: 'Vaciar', undrain: 'Reactivar', host: 'Host', port: 'Puerto',
    drained: 'sin llamadas nuevas; las suyas siguen', undone: 'recibe llamadas de nuevo',
    ari: 'Control (ARI)', connected: 'conectado', disconnected: 'sin conexión', notDriven: 'no lo controla',
    ariUrl: 'URL de ARI (nodo remoto)',
  },
  en: {
    title: 'Media nodes', name: 'Name', address: 'SIP address', weight: 'Weight', state: 'State',
    edge: 'Seen by Kamailio', calls: 'calls', up: 'answers', down: 'not answering', unknown: 'no data',
    active: 'active', draining: 'draining', drain: 'Drain', undrain: 'Undo drain', host: 'Host', port: 'Port',
    drained: 'no new calls; its calls go on', undone: 'takes calls again',
    ari: 'Control (ARI)', connected: 'connected', disconnected: 'not connected', notDriven: 'not driven',
    ariUrl: 'ARI URL (remote node)',
  },
};
const s = (key) => S[document.documentElement.lang === 'en' ? 'en' : 'es'][key] || key;
const int = (v) => (v === '' ? undefined : Number(v));

function seen(node) {
  const k = node.kamailio;
  if (!k) return s('unknown');
  return `${k.up ? s('up') : s('down')} (${k.flags}) · ${k.calls} ${s('calls')}`;
}

function driven(node) {
  if (node.ari === null || node.ari === undefined) return s('notDriven');
  return node.ari ? s('connected') : s('disconnected');
}

export function nodesSection(managed) {
  const setState = (node, state, run) => run(
    () => api('PATCH', `/api/v1/nodes/${encodeURIComponent(node.name)}`, { state }),
    () => `${node.name}: ${s(state === 'draining' ? 'drained' : 'undone')}`);
  return managed({
    id: 'nodes', title: s('title'), key: (n) => n.name,
    columns: [s('name'), s('address'), s('weight'), s('state'), s('edge'), s('ari')],
    load: async () => (await api('GET', '/api/v1/nodes')).nodes,
    cells: (n) => [n.name, n.uri, n.weight, s(n.state), seen(n), driven(n)],
    fields: [
      { name: 'name', label: s('name'), size: 10, placeholder: 'media2' },
      { name: 'host', label: s('host'), placeholder: '192.0.2.21' },
      { name: 'port', label: s('port'), type: 'number', size: 5, placeholder: '5080' },
      { name: 'weight', label: s('weight'), type: 'number', size: 3, placeholder: '1' },
      { name: 'ari_url', label: s('ariUrl'), placeholder: 'http://127.0.0.1:18088' },
    ],
    create: async (v) => {
      const r = await api('POST', '/api/v1/nodes', {
        name: v.name, host: v.host, port: int(v.port), weight: int(v.weight), ari_url: v.ari_url || undefined,
      });
      return { label: r.node.name, note: r.node.uri };
    },
    remove: (n) => api('DELETE', `/api/v1/nodes/${encodeURIComponent(n.name)}`),
    actions: (n, run) => h('button', {
      type: 'button', testid: `nodes-${n.state === 'draining' ? 'undrain' : 'drain'}-${n.name}`,
      onclick: () => setState(n, n.state === 'draining' ? 'active' : 'draining', run),
    }, s(n.state === 'draining' ? 'undrain' : 'drain')),
  });
}
