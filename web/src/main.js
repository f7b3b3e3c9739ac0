// AIT-COMMS browser UI: login, agent desktop (softphone), wallboard, admin.
import { api, login, logout, tokens, ApiError } from './api.js';
import { h, clear } from './dom.js';
import { t, lang, setLang, LANGS } from './i18n.js';
import { agentDesk } from './agent.js';
import { wallboard } from './wallboard.js';
import { adminPage } from './admin.js';
import { reviewsPage } from './reviews.js';
import { callsPage } from './calls.js';
import { campaignsPage } from './campaigns.js';

const PAGES = {
  '/agent': { title: 'agentDesk', roles: ['agent', 'supervisor', 'admin'], render: agentDesk },
  '/wallboard': { title: 'wallboard', roles: ['supervisor', 'admin'], render: wallboard },
  '/admin': { title: 'admin', roles: ['admin'], render: adminPage },
  '/reviews': { title: 'qualityReviews', roles: ['agent', 'supervisor', 'admin'], render: reviewsPage },
  '/calls': { title: 'calls', roles: ['agent', 'supervisor', 'admin'], render: callsPage },
  '/campaigns': { title: 'campaigns', roles: ['agent', 'supervisor', 'admin'], render: campaignsPage },
};
const HOME = { agent: '/agent', supervisor: '/wallboard', admin: '/admin' };

const root = document.getElementById('app');
let current = null; // the page's teardown

function go(path) {
  if (location.pathname !== path) history.pushState({}, '', path);
  route();
}

function langPicker() {
  return h('select', {
    testid: 'lang', 'aria-label': t('language'),
    onchange: (e) => { setLang(e.target.value); route(); },
  }, LANGS.map((l) => h('option', { value: l, selected: l === lang() }, l.toUpperCase())));
}

function loginPage() {
  const err = h('p', { class: 'error', testid: 'login-error', role: 'alert' });
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, testid: 'email' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, testid: 'password' });
  const form = h('form', {
    class: 'login', onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        await login(email.value.trim(), password.value);
        route();
      } catch (ex) {
        err.textContent = ex instanceof ApiError && ex.status === 429 ? t('locked') : t('loginFailed');
      }
    },
  },
  h('h1', {}, t('appName')),
  h('label', {}, t('email'), email),
  h('label', {}, t('password'), password),
  h('button', { type: 'submit', testid: 'login-submit' }, t('login')),
  err, langPicker());
  clear(root).append(h('main', {}, form)); // the page's main landmark
  email.focus();
}

function header(user, path) {
  const nav = Object.entries(PAGES).filter(([, p]) => p.roles.includes(user.role))
    .map(([href, p]) => h('a', {
      href, class: href === path ? 'active' : '', testid: `nav-${href.slice(1)}`,
      onclick: (e) => { e.preventDefault(); go(href); },
    }, t(p.title)));
  return h('header', {},
    h('h1', {}, t('appName')), h('nav', {}, nav),
    h('span', { class: 'who', testid: 'who' }, `${user.email} (${user.role}${user.agent_extension ? ' · ' + user.agent_extension : ''})`),
    langPicker(),
    h('button', { testid: 'logout', onclick: async () => { teardown(); await logout(); go('/login'); } }, t('logout')));
}

function teardown() { if (current) { current(); current = null; } }

async function route() {
  teardown();
  document.documentElement.lang = lang();
  const path = location.pathname;
  if (!tokens()) { if (path !== '/login') history.replaceState({}, '', '/login'); return loginPage(); }
  let user;
  try {
    user = (await api('GET', '/api/v1/auth/me')).user;
  } catch {
    await logout();
    history.replaceState({}, '', '/login');
    return loginPage();
  }
  const target = PAGES[path] ? path : HOME[user.role] || '/agent';
  if (target !== path) history.replaceState({}, '', target);
  const page = PAGES[target];
  const main = h('main', { testid: `page-${target.slice(1)}` });
  clear(root).append(header(user, target), main);
  if (!page.roles.includes(user.role)) {
    main.append(h('section', { class: 'forbidden', testid: 'forbidden' },
      h('h2', {}, '403'), h('p', {}, t('forbidden')),
      h('button', { onclick: () => go(HOME[user.role]) }, t('back'))));
    return;
  }
  current = page.render(main, user) || null;
}

window.addEventListener('popstate', route);
route();
