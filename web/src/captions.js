// Live captions of transcribed calls (speech.* events): the caller's and the
// agent's words apart, the partial result greyed until it is final; on the
// agent's desktop the knowledge-base articles suggested for what the caller
// said; on the wallboard the alert phrases heard. One panel per view:
//   const cap = captions({ alerts: true }); view.append(cap.el); cap.onEvent(ev)
import { api } from './api.js';
import { h, clear } from './dom.js';
import { t } from './i18n.js';

const KEEP = 6; // finals shown per call

export function captions({ alerts = false, suggestions = false, only = null } = {}) {
  const calls = new Map(); // call_id -> { caller: {partial}, agent: {partial}, lines: [], status }
  const alertList = [];
  let articles = [];
  const el = h('section', { class: 'captions', testid: 'captions' });

  const callOf = (id) => {
    if (!calls.has(id)) calls.set(id, { caller: '', agent: '', lines: [], status: '' });
    return calls.get(id);
  };

  function render() {
    clear(el);
    if (!calls.size && !alertList.length && !articles.length) return;
    el.append(h('h3', {}, t('captions')));
    for (const [id, c] of calls) {
      el.append(h('div', { class: 'caption-call', 'data-call': id, 'data-status': c.status },
        c.status === 'incomplete' ? h('div', { class: 'badge bad' }, t('transcriptIncomplete')) : '',
        c.status === 'not_transcribed' ? h('div', { class: 'badge' }, `${t('notTranscribed')}: ${c.reason || ''}`) : '',
        c.lines.map((l) => h('p', { class: `caption ${l.speaker}`, 'data-speaker': l.speaker },
          h('b', {}, `${t(l.speaker === 'caller' ? 'caller' : 'agent')}: `), l.text)),
        ['caller', 'agent'].map((who) => (c[who]
          ? h('p', { class: `caption partial ${who}`, 'data-speaker': who, testid: `partial-${who}` },
            h('b', {}, `${t(who)}: `), c[who]) : ''))));
    }
    if (suggestions && articles.length) {
      el.append(h('div', { class: 'kb-suggestions', testid: 'kb-suggestions' }, h('h4', {}, t('kbSuggested')),
        articles.map((a) => h('details', { 'data-article': a.id }, h('summary', {}, a.title), h('p', {}, a.excerpt)))));
    }
    if (alerts && alertList.length) {
      el.append(h('div', { class: 'speech-alerts', testid: 'speech-alerts' }, h('h4', {}, t('keywordAlerts')),
        alertList.map((a) => h('p', { class: 'badge bad', 'data-call': a.call_id },
          `${a.agent_extension || ''} · ${a.keyword} · ${Math.round(a.at)} s · “${a.text}”`))));
    }
  }

  function onEvent(ev) {
    const d = ev.data || {};
    if (!ev.type.startsWith('speech.') && ev.type !== 'call.completed' && ev.type !== 'call.abandoned') return;
    if (only && d.agent_extension && d.agent_extension !== only) return;
    switch (ev.type) {
      case 'speech.partial':
        callOf(d.call_id)[d.speaker] = d.text;
        break;
      case 'speech.final': {
        const c = callOf(d.call_id);
        c[d.speaker] = '';
        c.lines.push({ speaker: d.speaker, text: d.text });
        if (c.lines.length > KEEP) c.lines.shift();
        break;
      }
      case 'speech.status': {
        const c = callOf(d.call_id);
        c.status = d.status;
        c.reason = d.reason;
        break;
      }
      case 'speech.keyword':
        alertList.unshift(d);
        alertList.length = Math.min(alertList.length, 20);
        break;
      case 'speech.suggestion':
        articles = d.articles || [];
        break;
      case 'call.completed':
      case 'call.abandoned':
        if (d.call) calls.delete(d.call.id);
        if (!calls.size) articles = [];
        break;
      default:
        return;
    }
    render();
  }

  return { el, onEvent };
}

// A call's transcript after the fact (the customer's record, a call's
// detail): loaded when opened; status, summary, sentiment trend per leg,
// talk/silence/overtalk ratios, then every utterance with its offset.
export function transcriptDetails(callId) {
  const body = h('div', { class: 'transcript' });
  const pct = (x) => `${Math.round((x || 0) * 100)} %`;
  const el = h('details', { 'data-transcript': callId, ontoggle: async () => {
    if (!el.open || body.dataset.loaded) return;
    body.dataset.loaded = '1';
    try {
      const r = await api('GET', `/api/v1/calls/${callId}/transcript`);
      const s = r.speech || {};
      const a = s.analysis;
      clear(body).append(h('p', { class: 'muted' }, s.status + (s.reason ? ` · ${s.reason}` : '')),
        a ? h('p', {}, `${t('caller')} ${pct(a.ratios.caller_talk)} · ${t('agent')} ${pct(a.ratios.agent_talk)} · `
          + `overtalk ${pct(a.ratios.overtalk)} · silence ${pct(a.ratios.silence)}`) : '',
        a ? h('p', {}, `sentiment ${t('caller')}: ${(a.sentiment.caller || []).map((x) => (x === null ? '–' : x)).join(' → ')}`) : '',
        a ? h('ul', {}, a.summary.map((line) => h('li', {}, line))) : '',
        (r.segments || []).map((x) => h('p', { class: `caption ${x.speaker}` }, h('b', {}, `${x.start.toFixed(1)} s ${t(x.speaker)}: `), x.text)));
    } catch (ex) { body.textContent = ex.message; }
  } }, h('summary', {}, t('captions')), body);
  return el;
}
