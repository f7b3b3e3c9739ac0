// UI strings in Spanish and English. The language is the user's choice
// (kept in localStorage), else the browser's, else Spanish.
const STRINGS = {
  es: {
    appName: 'AIT-COMMS', login: 'Iniciar sesión', email: 'Correo electrónico', password: 'Contraseña',
    loginFailed: 'Usuario o contraseña incorrectos', locked: 'Cuenta bloqueada temporalmente',
    logout: 'Salir', language: 'Idioma', agentDesk: 'Escritorio', wallboard: 'Panel de supervisión', admin: 'Administración',
    softphone: 'Teléfono', events: 'Eventos en directo', registered: 'Registrado', connecting: 'Conectando…',
    connected: 'Conectado', disconnected: 'Desconectado', regFailed: 'Registro fallido', noPhone: 'Sin extensión',
    status: 'Estado', available: 'Disponible', paused: 'En pausa', logged_out: 'Desconectado', ringing: 'Sonando',
    on_call: 'En llamada', wrap_up: 'Post-llamada', reason: 'Motivo', apply: 'Aplicar',
    reasons: { break: 'Descanso', lunch: 'Comida', training: 'Formación', meeting: 'Reunión', admin: 'Tareas administrativas' },
    idle: 'Sin llamadas', incoming: 'Llamada entrante', inCall: 'En llamada', onHold: 'En espera',
    answer: 'Contestar', reject: 'Rechazar', hangup: 'Colgar', hold: 'Retener', unhold: 'Recuperar',
    mute: 'Silenciar', unmute: 'Activar micro', keypad: 'Teclado', queue: 'Cola', unknownCaller: 'Cliente no identificado',
    customer: 'Cliente', policies: 'Pólizas en vigor', claims: 'Siniestros abiertos', interactions: 'Últimas interacciones',
    tasks: 'Tareas pendientes', quotes: 'Presupuestos abiertos', none: 'Ninguno', vip: 'VIP',
    wrapup: 'Cierre de la llamada', wrapupLeft: 'Post-llamada: {s} s', disposition: 'Resultado', notes: 'Notas',
    save: 'Guardar', saved: 'Guardado', choose: 'Elegir…', noInteraction: 'Llamada sin cliente: nada que guardar',
    dispositions: { consulta: 'Consulta', venta: 'Venta', siniestro: 'Siniestro', renovacion: 'Renovación', reclamacion: 'Reclamación', baja: 'Baja', otro: 'Otro' },
    shortcuts: 'Atajos: Alt+A contestar · Alt+H colgar · Alt+M silenciar · Alt+K retener',
    forbidden: 'No tiene acceso a esta página.', back: 'Volver',
    queues: 'Colas', agents: 'Agentes', liveCalls: 'Llamadas en curso', waiting: 'En espera', longest: 'Espera máx.',
    talking: 'Hablando', answered: 'Atendidas', abandoned: 'Abandonadas', serviceLevel: 'Nivel de servicio',
    listen: 'Escuchar', whisper: 'Susurrar', barge: 'Intervenir', since: 'Desde', caller: 'Llamante', agent: 'Agente',
    supervisionRequested: 'Su teléfono va a sonar', trunks: 'Troncales', dids: 'Números', dialplan: 'Plan de marcación',
    name: 'Nombre', extension: 'Extensión', skills: 'Habilidades', languages: 'Idiomas', missed: 'Perdidas seguidas',
  },
  en: {
    appName: 'AIT-COMMS', login: 'Sign in', email: 'E-mail', password: 'Password',
    loginFailed: 'Wrong user or password', locked: 'Account temporarily locked',
    logout: 'Sign out', language: 'Language', agentDesk: 'Desktop', wallboard: 'Wallboard', admin: 'Admin',
    softphone: 'Phone', events: 'Live events', registered: 'Registered', connecting: 'Connecting…',
    connected: 'Connected', disconnected: 'Disconnected', regFailed: 'Registration failed', noPhone: 'No extension',
    status: 'Status', available: 'Available', paused: 'Paused', logged_out: 'Logged out', ringing: 'Ringing',
    on_call: 'On a call', wrap_up: 'Wrap-up', reason: 'Reason', apply: 'Apply',
    reasons: { break: 'Break', lunch: 'Lunch', training: 'Training', meeting: 'Meeting', admin: 'Back office' },
    idle: 'No calls', incoming: 'Incoming call', inCall: 'On a call', onHold: 'On hold',
    answer: 'Answer', reject: 'Reject', hangup: 'Hang up', hold: 'Hold', unhold: 'Resume',
    mute: 'Mute', unmute: 'Unmute', keypad: 'Keypad', queue: 'Queue', unknownCaller: 'Unknown caller',
    customer: 'Customer', policies: 'Active policies', claims: 'Open claims', interactions: 'Last interactions',
    tasks: 'Open tasks', quotes: 'Open quotes', none: 'None', vip: 'VIP',
    wrapup: 'Call wrap-up', wrapupLeft: 'Wrap-up: {s} s', disposition: 'Disposition', notes: 'Notes',
    save: 'Save', saved: 'Saved', choose: 'Choose…', noInteraction: 'Call without a customer: nothing to save',
    dispositions: { consulta: 'Enquiry', venta: 'Sale', siniestro: 'Claim', renovacion: 'Renewal', reclamacion: 'Complaint', baja: 'Cancellation', otro: 'Other' },
    shortcuts: 'Shortcuts: Alt+A answer · Alt+H hang up · Alt+M mute · Alt+K hold',
    forbidden: 'You have no access to this page.', back: 'Back',
    queues: 'Queues', agents: 'Agents', liveCalls: 'Live calls', waiting: 'Waiting', longest: 'Longest wait',
    talking: 'Talking', answered: 'Answered', abandoned: 'Abandoned', serviceLevel: 'Service level',
    listen: 'Listen', whisper: 'Whisper', barge: 'Barge', since: 'Since', caller: 'Caller', agent: 'Agent',
    supervisionRequested: 'Your phone will ring', trunks: 'Trunks', dids: 'Numbers', dialplan: 'Dialplan',
    name: 'Name', extension: 'Extension', skills: 'Skills', languages: 'Languages', missed: 'Missed in a row',
  },
};

export function lang() {
  const chosen = localStorage.getItem('aitcomms.lang');
  if (chosen && STRINGS[chosen]) return chosen;
  return (navigator.language || 'es').toLowerCase().startsWith('en') ? 'en' : 'es';
}

export function setLang(l) {
  localStorage.setItem('aitcomms.lang', l);
  document.documentElement.lang = l;
}

export function t(key, vars) {
  const dict = STRINGS[lang()];
  let value = key.split('.').reduce((d, k) => (d && d[k] !== undefined ? d[k] : undefined), dict);
  if (value === undefined) value = key;
  if (vars) for (const [k, v] of Object.entries(vars)) value = value.replace(`{${k}}`, v);
  return value;
}

export const LANGS = Object.keys(STRINGS);
export const DISPOSITIONS = Object.keys(STRINGS.es.dispositions);
export const PAUSE_REASONS = Object.keys(STRINGS.es.reasons);
