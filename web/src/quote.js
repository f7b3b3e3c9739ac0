// The quote form of the agent desktop: during a call with a known customer
// the agent prices an auto or home quote (POST /api/v1/quotes/auto|home, tied
// to the call), shows the premium, how it was reached (base, factors,
// discounts) and the competitors' prices when the quote has them, and turns
// it into a policy when the customer says yes (POST /api/v1/quotes/{id}/accept).
import { api } from './api.js';
import { h, clear } from './dom.js';
import { t } from './i18n.js';

const CARRIERS = ['Mapfre', 'AXA', 'Allianz', 'Generali', 'Mutua Madrileña', 'Zurich'];
const HOME_KINDS = ['piso', 'adosado', 'chalet'];

const num = (testid, value, attrs = {}) => h('input', { type: 'number', testid, value, ...attrs });
const field = (label, input) => h('label', {}, label, input);
const money = (v) => `${v} €`;

// {call_id, customer_id} -> a <section> (built once per call: re-rendering the
// desk must not wipe what the agent typed)
export function quotePanel(call) {
  const year = new Date().getFullYear();
  const product = h('select', { testid: 'quote-product' },
    ['auto', 'home'].map((p) => h('option', { value: p }, t(`products.${p}`))));
  const carrier = h('select', { testid: 'quote-carrier' }, CARRIERS.map((c) => h('option', { value: c }, c)));
  const auto = {
    year: num('quote-vehicle-year', year - 4, { min: 1950, max: year + 1 }),
    make: h('input', { testid: 'quote-vehicle-make', value: '', maxlength: 40 }),
    model: h('input', { testid: 'quote-vehicle-model', value: '', maxlength: 60 }),
    plate: h('input', { testid: 'quote-vehicle-plate', value: '', maxlength: 12 }),
    age: num('quote-driver-age', 40, { min: 18, max: 99 }),
    experience: num('quote-driver-experience', 15, { min: 0, max: 81 }),
    claims: num('quote-driver-claims', 0, { min: 0, max: 20 }),
  };
  const home = {
    kind: h('select', { testid: 'quote-home-kind' }, HOME_KINDS.map((k) => h('option', { value: k }, t(`homeKinds.${k}`)))),
    m2: num('quote-home-m2', 90, { min: 15, max: 5000 }),
    built: num('quote-home-built', year - 20, { min: 1700, max: year + 2 }),
    contents: num('quote-home-contents', 20000, { min: 0 }),
    claims: num('quote-home-claims', 0, { min: 0, max: 20 }),
  };
  const autoBox = h('div', { class: 'quote-fields', testid: 'quote-auto' },
    field(t('vehicleYear'), auto.year), field(t('make'), auto.make), field(t('model'), auto.model),
    field(t('plate'), auto.plate), field(t('driverAge'), auto.age),
    field(t('experience'), auto.experience), field(t('claimsCount'), auto.claims));
  const homeBox = h('div', { class: 'quote-fields', testid: 'quote-home', hidden: true },
    field(t('homeKind'), home.kind), field(t('m2'), home.m2), field(t('built'), home.built),
    field(t('contents'), home.contents), field(t('claimsCount'), home.claims));
  product.addEventListener('change', () => {
    autoBox.hidden = product.value !== 'auto';
    homeBox.hidden = product.value !== 'home';
  });
  const err = h('p', { class: 'error', testid: 'quote-error', role: 'alert' });
  const result = h('div', { class: 'quote-result', testid: 'quote-result', hidden: true });
  let quote = null;

  const int = (el) => (el.value === '' ? undefined : Number(el.value));
  async function price() {
    err.textContent = '';
    const common = { customer_id: call.customer_id, call_id: call.call_id, carrier: carrier.value };
    try {
      const r = product.value === 'auto'
        ? await api('POST', '/api/v1/quotes/auto', {
          ...common,
          vehicle: { year: int(auto.year), make: auto.make.value.trim(), model: auto.model.value.trim() || undefined, plate: auto.plate.value.trim() || undefined },
          driver: { age: int(auto.age), experience_years: int(auto.experience), claims: int(auto.claims) },
        })
        : await api('POST', '/api/v1/quotes/home', {
          ...common,
          property: { kind: home.kind.value, m2: int(home.m2), built: int(home.built), contents: int(home.contents) },
          claims: int(home.claims),
        });
      quote = r.quote;
      showQuote();
    } catch (ex) {
      err.textContent = ex.body && ex.body.field ? `${ex.body.field}: ${ex.message}` : ex.message;
    }
  }

  function showQuote() {
    const b = quote.premium_breakdown || {};
    const rows = (obj, prefix) => Object.entries(obj || {}).map(([k, v]) => h('tr', { 'data-factor': k },
      h('td', {}, t(`${prefix}.${k}`)), h('td', {}, `× ${v}`)));
    const competitors = quote.competitor_prices || [];
    const accept = h('button', { testid: 'quote-accept', class: 'go', onclick: acceptQuote }, t('acceptQuote'));
    clear(result).append(
      h('div', { class: 'premium' }, h('span', { testid: 'quote-number' }, quote.number), ' · ',
        t('annualPremium'), ': ', h('strong', { testid: 'quote-premium', 'data-premium': quote.premium }, money(quote.premium))),
      h('table', { class: 'grid', testid: 'quote-breakdown' },
        h('tr', {}, h('td', {}, t('base')), h('td', {}, money(b.base))),
        rows(b.factors, 'factors'), rows(b.discounts, 'discounts')),
      h('div', { testid: 'quote-competitors' }, h('h4', {}, t('competitors')),
        competitors.length
          ? h('ul', {}, competitors.map((c) => h('li', { 'data-carrier': c.carrier }, `${c.carrier}: ${money(c.premium)}`)))
          : h('p', { class: 'muted' }, t('noCompetitors'))),
      h('div', { class: 'row' }, accept));
    result.hidden = false;
  }

  async function acceptQuote(e) {
    const button = e.currentTarget;
    err.textContent = '';
    button.disabled = true;
    try {
      const r = await api('POST', `/api/v1/quotes/${quote.id}/accept`, { carrier: carrier.value });
      result.append(h('p', { class: 'ok', testid: 'quote-policy', 'data-number': r.policy.number },
        t('policyIssued'), ' ', h('strong', {}, r.policy.number), ` · ${r.policy.carrier} · ${money(r.policy.premium)}`));
    } catch (ex) {
      button.disabled = false;
      err.textContent = ex.message;
    }
  }

  return h('section', { class: 'quote', testid: 'quote', 'data-call-id': call.call_id },
    h('h3', {}, t('newQuote')),
    h('div', { class: 'row' }, field(t('product'), product), field(t('carrier'), carrier)),
    autoBox, homeBox,
    h('div', { class: 'row' }, h('button', { testid: 'quote-submit', onclick: price }, t('priceQuote'))),
    err, result);
}
