// Admin page: user accounts (/api/v1/users: create, role, agent extension,
// disable, remove, reset password, reset two-factor) and the built-in test
// caller (/api/v1/calls/test: a real call into any number, for a first call
// without a phone). Supervisors may manage agents' accounts only; the server
// decides and says why (the message shows its reason).
import { api } from './api.js';
import { h } from './dom.js';
import { lang } from './i18n.js';

const STRINGS = {
  es: {
    users: 'Usuarios', email: 'Correo electrónico', role: 'Rol', extension: 'Extensión', active: 'Activo',
    twoFactor: 'Doble factor', lastLogin: 'Último acceso', password: 'Contraseña', passwordHint: 'vacía: se genera',
    roles: { admin: 'Administrador', supervisor: 'Supervisor', agent: 'Agente' }, yes: 'Sí', no: 'No',
    resetPassword: 'Nueva contraseña', resetTotp: 'Quitar doble factor', newPassword: 'Nueva contraseña (se muestra una vez)',
    totpReset: 'Doble factor quitado', loginEmail: 'Usuario (correo)', loginHint: 'opcional: crea su acceso',
    userPassword: 'contraseña de acceso (se muestra una vez)',
    testCall: 'Llamada de prueba', testCallTo: 'Llamar a', testCallHint: 'número (+34…), extensión, queue:NOMBRE o ivr:NOMBRE',
    testCallGo: 'Llamar', testCallPlaced: 'Llamada de prueba en curso: suena en', testCallHelp:
      'Un llamante integrado en Asterisk llama al número y reproduce un mensaje durante un minuto: contéstela desde el escritorio del agente.',
  },
  en: {
    users: 'Users', email: 'E-mail', role: 'Role', extension: 'Extension', active: 'Active',
    twoFactor: 'Two-factor', lastLogin: 'Last sign-in', password: 'Password', passwordHint: 'empty: generated',
    roles: { admin: 'Admin', supervisor: 'Supervisor', agent: 'Agent' }, yes: 'Yes', no: 'No',
    resetPassword: 'New password', resetTotp: 'Remove two-factor', newPassword: 'New password (shown once)',
    totpReset: 'Two-factor removed', loginEmail: 'Login (e-mail)', loginHint: 'optional: creates its login',
    userPassword: 'login password (shown once)',
    testCall: 'Test call', testCallTo: 'Call', testCallHint: 'number (+34…), extension, queue:NAME or ivr:NAME',
    testCallGo: 'Place test call', testCallPlaced: 'Test call placed: it rings at', testCallHelp:
      'A caller built into Asterisk calls the number and plays a message for a minute: answer it on the agent desk.',
  },
};

export function s(key) {
  const dict = STRINGS[lang()] || STRINGS.en;
  return key.split('.').reduce((d, k) => (d && d[k] !== undefined ? d[k] : undefined), dict) ?? key;
}

const ROLES = ['agent', 'supervisor', 'admin'];

// the agents form's extra field: the agent's login, made in the same request
export const loginField = () => ({ name: 'user_email', label: s('loginEmail'), type: 'email', placeholder: s('loginHint'), size: 18, createOnly: true });
export const loginNote = (r) => (r.user ? `${s('loginEmail')} ${r.user.email} · ${s('userPassword')}: ${r.generated_user_password}` : '');

export function usersSection(managed) {
  const roles = h('datalist', { id: 'user-roles' }, ROLES.map((r) => h('option', { value: r }, s(`roles.${r}`))));
  const section = managed({
    id: 'users', title: s('users'), key: (u) => u.email,
    columns: [s('email'), s('role'), s('extension'), s('active'), s('twoFactor'), s('lastLogin')],
    load: async () => (await api('GET', '/api/v1/users')).users,
    cells: (u) => [u.email, s(`roles.${u.role}`), u.agent_extension || '', u.active ? s('yes') : s('no'),
      u.two_factor ? s('yes') : s('no'), u.last_login_at ? new Date(u.last_login_at).toLocaleString() : ''],
    fields: [
      { name: 'email', label: s('email'), key: true, type: 'email', size: 20 },
      { name: 'role', label: s('role'), list: 'user-roles', size: 10, placeholder: 'agent' },
      { name: 'agent_extension', label: s('extension'), size: 6, from: (u) => u.agent_extension || '' },
      { name: 'password', label: s('password'), type: 'password', placeholder: s('passwordHint'), createOnly: true },
      { name: 'active', label: s('active'), type: 'checkbox', checked: true },
    ],
    create: async (v) => {
      const r = await api('POST', '/api/v1/users', {
        email: v.email, role: v.role || 'agent', agent_extension: v.agent_extension || undefined,
        password: v.password || undefined,
      });
      if (!v.active) await api('PATCH', `/api/v1/users/${r.user.id}`, { active: false });
      return { label: r.user.email, note: r.generated_password ? `${s('newPassword')}: ${r.generated_password}` : '' };
    },
    update: (u, v) => api('PATCH', `/api/v1/users/${u.id}`, {
      ...(v.role && v.role !== u.role ? { role: v.role } : {}),
      ...((v.agent_extension || null) !== u.agent_extension ? { agent_extension: v.agent_extension || null } : {}),
      ...(v.active !== u.active ? { active: v.active } : {}),
    }),
    remove: (u) => api('DELETE', `/api/v1/users/${u.id}`),
    actions: (u, run) => [
      h('button', { type: 'button', testid: `users-reset-password-${u.email}`,
        onclick: () => run(() => api('POST', `/api/v1/users/${u.id}/reset_password`),
          (r) => `${u.email} · ${s('newPassword')}: ${r.generated_password}`) }, s('resetPassword')),
      u.two_factor ? h('button', { type: 'button', testid: `users-reset-totp-${u.email}`,
        onclick: () => run(() => api('POST', `/api/v1/users/${u.id}/reset_totp`), () => `${u.email} · ${s('totpReset')}`) }, s('resetTotp')) : '',
    ],
  });
  section.el.prepend(roles);
  return section;
}

// The built-in test caller: a real call into any number of this contact center.
export function testCallSection(targets) {
  const to = h('input', { testid: 'test-call-to', name: 'to', list: targets, size: 18, placeholder: s('testCallHint'), required: true });
  const msg = h('p', { class: 'hint', testid: 'test-call-message', role: 'status' });
  const form = h('form', {
    class: 'row admin-form', onsubmit: async (e) => {
      e.preventDefault();
      msg.textContent = '…';
      delete msg.dataset.result;
      try {
        const r = await api('POST', '/api/v1/calls/test', { to: to.value.trim() });
        msg.textContent = `${s('testCallPlaced')} ${r.call.target} (${r.call.from})`;
        msg.dataset.result = 'ok';
        msg.dataset.channel = r.call.channel_id;
      } catch (ex) {
        msg.textContent = [ex.body && ex.body.field, ex.message].filter(Boolean).join(': ');
        msg.dataset.result = 'error';
      }
    },
  }, h('label', {}, s('testCallTo'), to), h('button', { type: 'submit', class: 'go', testid: 'test-call-go' }, s('testCallGo')));
  return h('section', { testid: 'admin-test-call' }, h('h2', {}, s('testCall')), h('p', { class: 'hint' }, s('testCallHelp')), form, msg);
}

