// Quality reviews. Supervisors and admins: evaluation forms per queue
// (criteria with weights, each yes/no or 1-5), scoring a call while its
// recording plays (/api/v1/calls/ID/recording, the recordings library's
// player URL, with the access token in the query as the <audio> element
// cannot send headers), the reviews and the averages per agent and queue.
// Agents: their own reviews only (the API enforces it).
import { api, tokens } from './api.js';
import { h, clear } from './dom.js';
import { t } from './i18n.js';

const S = {
  es: {
    scoreCall: 'Evaluar una llamada', callId: 'Id de la llamada', load: 'Cargar', form: 'Formulario', comment: 'Comentario',
    save: 'Guardar evaluación', saved: 'Evaluación guardada: {score} / 100', forms: 'Formularios de evaluación', newForm: 'Nuevo formulario',
    criterion: 'Criterio', weight: 'Peso', kind: 'Tipo', yes_no: 'Sí / no', scale_1_5: 'Escala 1-5', addCriterion: 'Añadir criterio',
    yes: 'Sí', no: 'No', reviews: 'Evaluaciones', myReviews: 'Mis evaluaciones', score: 'Nota', reviewer: 'Evaluador', date: 'Fecha',
    averages: 'Medias del mes', byAgent: 'Por agente', byQueue: 'Por cola', count: 'Evaluaciones', average: 'Media', recording: 'Grabación de la llamada',
    createForm: 'Crear formulario', none: 'Ninguna',
  },
  en: {
    scoreCall: 'Score a call', callId: 'Call id', load: 'Load', form: 'Form', comment: 'Comment',
    save: 'Save review', saved: 'Review saved: {score} / 100', forms: 'Evaluation forms', newForm: 'New form',
    criterion: 'Criterion', weight: 'Weight', kind: 'Kind', yes_no: 'Yes / no', scale_1_5: 'Scale 1-5', addCriterion: 'Add criterion',
    yes: 'Yes', no: 'No', reviews: 'Reviews', myReviews: 'My reviews', score: 'Score', reviewer: 'Reviewer', date: 'Date',
    averages: "This month's averages", byAgent: 'By agent', byQueue: 'By queue', count: 'Reviews', average: 'Average', recording: "The call's recording",
    createForm: 'Create form', none: 'None',
  },
};
const s = (key, vars) => {
  let v = S[document.documentElement.lang === 'en' ? 'en' : 'es'][key] || key;
  for (const [k, x] of Object.entries(vars || {})) v = v.replace(`{${k}}`, x);
  return v;
};
const errText = (ex) => (ex.body && ex.body.field ? `${ex.body.field}: ${ex.message}` : ex.message);
const label = (text, input) => h('label', {}, text, input);

function reviewsTable(reviews, testid) {
  if (!reviews.length) return h('p', { class: 'hint', testid }, s('none'));
  return h('table', { class: 'grid', testid }, h('tbody', {},
    h('tr', {}, [s('date'), t('agent'), t('queue'), s('callId'), s('score'), s('reviewer'), s('comment')].map((c) => h('th', {}, c))),
    reviews.map((r) => h('tr', { 'data-review': r.id },
      [new Date(r.created_at).toLocaleString(), r.agent_extension, r.queue, r.call_id, r.score, r.reviewer, r.comment].map((c) => h('td', {}, c))))));
}

export function reviewsPage(main, user) {
  const manager = user.role === 'supervisor' || user.role === 'admin';
  const listBox = h('div', {});
  if (!manager) {
    main.append(h('h2', {}, s('myReviews')), listBox);
    api('GET', '/api/v1/reviews').then((r) => clear(listBox).append(reviewsTable(r.reviews, 'my-reviews')))
      .catch((ex) => listBox.append(h('p', { class: 'error', role: 'alert' }, errText(ex))));
    return null;
  }
  let forms = [];

  // -- score a call while listening to it -----------------------------------------
  const msg = h('p', { class: 'hint', testid: 'review-message', role: 'status' });
  const callIn = h('input', { testid: 'review-call', value: new URLSearchParams(location.search).get('call') || '' });
  const player = h('div', { testid: 'review-player' });
  const formSel = h('select', { testid: 'review-form', onchange: () => renderCriteria() });
  const criteriaBox = h('div', { testid: 'review-criteria' });
  const comment = h('textarea', { testid: 'review-comment', rows: 2 });

  function loadCall() {
    const id = callIn.value.trim();
    clear(player);
    if (!id) return;
    const token = (tokens() || {}).access || '';
    player.append(label(s('recording'), h('audio', {
      controls: true, preload: 'metadata', testid: 'review-audio',
      src: `/api/v1/calls/${encodeURIComponent(id)}/recording?token=${encodeURIComponent(token)}`,
    })));
  }

  function renderCriteria() {
    const form = forms.find((f) => String(f.id) === formSel.value);
    clear(criteriaBox);
    if (!form) return;
    for (const c of form.criteria) {
      const input = c.kind === 'yes_no'
        ? h('select', { 'data-criterion': c.name }, h('option', { value: 'true' }, s('yes')), h('option', { value: 'false' }, s('no')))
        : h('select', { 'data-criterion': c.name }, [1, 2, 3, 4, 5].map((n) => h('option', { value: n, selected: n === 3 }, n)));
      criteriaBox.append(label(`${c.name} (${s('weight')} ${c.weight})`, input));
    }
  }

  async function save(e) {
    e.preventDefault();
    const form = forms.find((f) => String(f.id) === formSel.value);
    if (!form) return;
    const scores = {};
    for (const el of criteriaBox.querySelectorAll('[data-criterion]')) {
      const c = form.criteria.find((x) => x.name === el.dataset.criterion);
      scores[c.name] = c.kind === 'yes_no' ? el.value === 'true' : Number(el.value);
    }
    try {
      const r = await api('POST', '/api/v1/reviews', { call_id: callIn.value.trim(), form_id: form.id, scores, comment: comment.value });
      msg.textContent = s('saved', { score: r.review.score });
      comment.value = '';
      loadLists();
    } catch (ex) { msg.textContent = errText(ex); }
  }

  // -- forms ----------------------------------------------------------------------------
  const formsBox = h('div', { testid: 'forms-list' });
  const queueSel = h('select', { testid: 'form-queue', 'aria-label': t('queue') });
  const nameIn = h('input', { testid: 'form-name', required: true });
  const rows = h('div', {});
  const formMsg = h('p', { class: 'hint', role: 'status', testid: 'form-message' });
  function addRow() {
    rows.append(h('div', { class: 'row criterion' },
      label(s('criterion'), h('input', { name: 'name' })),
      label(s('weight'), h('input', { name: 'weight', type: 'number', min: 0.1, max: 100, step: 'any', value: 1 })),
      label(s('kind'), h('select', { name: 'kind' }, h('option', { value: 'yes_no' }, s('yes_no')), h('option', { value: 'scale_1_5' }, s('scale_1_5'))))));
  }
  async function createForm(e) {
    e.preventDefault();
    const criteria = [...rows.querySelectorAll('.criterion')].map((r) => ({
      name: r.querySelector('[name=name]').value, weight: Number(r.querySelector('[name=weight]').value), kind: r.querySelector('[name=kind]').value,
    }));
    try {
      await api('POST', '/api/v1/evaluation-forms', { queue: queueSel.value, name: nameIn.value, criteria });
      formMsg.textContent = t('created');
      nameIn.value = '';
      clear(rows); addRow();
      loadLists();
    } catch (ex) { formMsg.textContent = errText(ex); }
  }
  addRow();

  const avgBox = h('div', { testid: 'review-averages' });
  main.append(
    h('h2', {}, s('scoreCall')),
    h('form', { class: 'review', onsubmit: save },
      h('div', { class: 'row' }, label(s('callId'), callIn), h('button', { type: 'button', onclick: loadCall }, s('load'))),
      player, label(s('form'), formSel), criteriaBox, label(s('comment'), comment),
      h('button', { type: 'submit', testid: 'review-save' }, s('save')), msg),
    h('h2', {}, s('reviews')), listBox,
    h('h2', {}, s('averages')), avgBox,
    h('h2', {}, s('forms')), formsBox,
    h('h3', {}, s('newForm')),
    h('form', { onsubmit: createForm }, label(t('queue'), queueSel), label(t('name'), nameIn), rows,
      h('button', { type: 'button', onclick: addRow }, s('addCriterion')),
      h('button', { type: 'submit', testid: 'form-create' }, s('createForm')), formMsg));

  async function loadLists() {
    try {
      const [f, r, q, a] = await Promise.all([api('GET', '/api/v1/evaluation-forms'), api('GET', '/api/v1/reviews'),
        api('GET', '/api/v1/queues'), api('GET', '/api/v1/analytics/reviews?period=month')]);
      forms = f.forms;
      const chosen = formSel.value;
      clear(formSel).append(...forms.map((x) => h('option', { value: x.id, selected: String(x.id) === chosen }, `${x.queue} · ${x.name}`)));
      renderCriteria();
      clear(formsBox).append(...forms.map((x) => h('p', { 'data-form': x.id },
        `${x.queue} · ${x.name}: ${x.criteria.map((c) => `${c.name} (${s(c.kind)}, ${c.weight})`).join(', ')}`)));
      clear(queueSel).append(...q.queues.map((x) => h('option', { value: x.name }, x.name)));
      clear(listBox).append(reviewsTable(r.reviews, 'reviews-list'));
      const avg = (items, key) => h('table', { class: 'grid' }, h('tbody', {},
        h('tr', {}, [key === 'extension' ? t('agent') : t('queue'), s('count'), s('average')].map((c) => h('th', {}, c))),
        items.map((x) => h('tr', {}, [x[key], x.reviews, x.average_score].map((c) => h('td', {}, c))))));
      clear(avgBox).append(h('h3', {}, s('byAgent')), avg(a.agents, 'extension'), h('h3', {}, s('byQueue')), avg(a.queues, 'queue'));
    } catch (ex) { msg.textContent = errText(ex); }
  }
  loadLists();
  if (callIn.value) loadCall();
  return null;
}
