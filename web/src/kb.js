// Admin page sections of speech: the knowledge base agent assist suggests
// from (articles: title, body, tags) and each queue's speech policy
// (transcription on/off, alert phrases). Built with the admin page's own
// managed-collection helper, handed in by admin.js.
import { api } from './api.js';
import { t } from './i18n.js';

const csv = (v) => v.split(',').map((x) => x.trim()).filter(Boolean);

export function kbSection(managed) {
  return managed({
    id: 'kb', title: t('knowledgeBase'), key: (x) => String(x.id),
    columns: ['#', t('title'), t('tags')],
    load: async () => (await api('GET', '/api/v1/kb/articles')).articles,
    cells: (x) => [x.id, x.title, (x.tags || []).join(', ')],
    fields: [
      { name: 'title', label: t('title'), size: 24 },
      { name: 'body', label: t('body'), size: 40 },
      { name: 'tags', label: t('tags'), size: 14, from: (x) => (x.tags || []).join(', ') },
    ],
    create: async (v) => {
      const r = await api('POST', '/api/v1/kb/articles', { title: v.title, body: v.body, tags: csv(v.tags) });
      return { label: r.article.title };
    },
    update: (x, v) => api('PATCH', `/api/v1/kb/articles/${x.id}`, { title: v.title, body: v.body, tags: csv(v.tags) }),
    remove: (x) => api('DELETE', `/api/v1/kb/articles/${x.id}`),
  });
}

export function speechSection(managed) {
  return managed({
    id: 'speech', title: t('speechPolicies'), key: (x) => x.queue,
    columns: [t('queue'), t('transcribe'), t('keywordAlerts')],
    load: async () => {
      const { queues } = await api('GET', '/api/v1/queues');
      return Promise.all(queues.map(async (q) => (await api('GET', `/api/v1/queues/${q.name}/speech`)).speech));
    },
    cells: (x) => [x.queue, x.transcribe ? '✔' : '–', (x.keywords || []).join(', ')],
    fields: [
      { name: 'queue', label: t('queue'), key: true, size: 10 },
      { name: 'transcribe', label: t('transcribe'), type: 'checkbox' },
      { name: 'keywords', label: t('keywordAlerts'), size: 30, from: (x) => (x.keywords || []).join(', ') },
    ],
    create: async (v) => {
      const r = await api('PUT', `/api/v1/queues/${v.queue}/speech`, { transcribe: v.transcribe, keywords: csv(v.keywords) });
      return { label: r.speech.queue };
    },
    update: (x, v) => api('PUT', `/api/v1/queues/${x.queue}/speech`, { transcribe: v.transcribe, keywords: csv(v.keywords) }),
    remove: (x) => api('PUT', `/api/v1/queues/${x.queue}/speech`, { transcribe: false, keywords: [] }),
  });
}
