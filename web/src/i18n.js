// UI strings in Spanish and English. The language is the user's choice
// (kept in localStorage), else the browser's, else Spanish.
const STRINGS = {
  es: {
    appName: 'AIT-COMMS', login: 'Iniciar sesión', email: 'Correo electrónico', password: 'Contraseña',
    loginFailed: 'Usuario o contraseña incorrectos', locked: 'Cuenta bloqueada temporalmente',
    logout: 'Salir', language: 'Idioma', agentDesk: 'Escritorio', wallboard: 'Panel de supervisión', admin: 'Administración', qualityReviews: 'Calidad', calls: 'Llamadas', campaigns: 'Campañas',
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
    captions: 'Transcripción en directo', transcriptIncomplete: 'Transcripción incompleta', notTranscribed: 'Sin transcripción', kbSuggested: 'Artículos sugeridos', keywordAlerts: 'Alertas de palabras clave', knowledgeBase: 'Base de conocimiento', title: 'Título', body: 'Texto', tags: 'Etiquetas', speechPolicies: 'Transcripción por cola', transcribe: 'Transcribir',
    supervisionRequested: 'Su teléfono va a sonar', trunks: 'Troncales', dids: 'Números', dialplan: 'Plan de marcación',
    name: 'Nombre', extension: 'Extensión', skills: 'Habilidades', languages: 'Idiomas', missed: 'Perdidas seguidas',
    newQuote: 'Presupuesto', product: 'Producto', products: { auto: 'Auto', home: 'Hogar' }, carrier: 'Compañía',
    vehicleYear: 'Año de matriculación', make: 'Marca', model: 'Modelo', plate: 'Matrícula', driverAge: 'Edad del conductor',
    experience: 'Años de carné', claimsCount: 'Siniestros (5 años)', homeKind: 'Vivienda',
    homeKinds: { piso: 'Piso', adosado: 'Adosado', chalet: 'Chalet' }, m2: 'Superficie (m²)', built: 'Año de construcción',
    contents: 'Contenido (€)', priceQuote: 'Calcular prima', annualPremium: 'Prima anual', base: 'Prima base',
    factors: { vehicle_age: 'Antigüedad del vehículo', make: 'Marca', driver_age: 'Edad del conductor', experience: 'Experiencia',
      claims: 'Siniestralidad', kind: 'Tipo de vivienda', size: 'Superficie', building_age: 'Antigüedad del edificio', contents: 'Contenido' },
    discounts: { loyalty: 'Descuento fidelidad', no_claims: 'Descuento sin siniestros' },
    competitors: 'Precios de la competencia', noCompetitors: 'Sin precios de la competencia para este presupuesto',
    acceptQuote: 'Aceptar: emitir póliza', policyIssued: 'Póliza emitida:', sales: 'Actividad comercial en directo',
    time: 'Hora', kind: 'Tipo', number: 'Número', premium: 'Prima', quoteCreated: 'Presupuesto', policyCreated: 'Póliza',
    dialplanVersions: 'Versiones del plan de marcación', dpDiff: 'Ver diferencias', dpApply: 'Aplicar', dpRollback: 'Restaurar',
    dpNoDiff: 'Sin diferencias: el plan en marcha es el que generan las fuentes', dpApplied: 'Versión aplicada',
    dpNothing: 'Nada que aplicar', action: 'Acción', author: 'Autor', contexts: 'Contextos', version: 'Versión',
    customers: 'Clientes', search: 'Buscar', searchCustomer: 'Buscar cliente', searchHint: 'Nombre, teléfono, DNI o correo',
    call: 'Llamar', calling: 'Llamando a', dialing: 'Llamando…', notConnected: 'No contesta: {n}', record: 'Ficha',
    myTasks: 'Mis tareas', taskKinds: { callback: 'Devolver llamada', follow_up: 'Seguimiento' },
    transferTo: 'Transferir a (extensión o cola)', transfer: 'Transferir', transferred: 'Transferida',
    consult: 'Consultar', consulting: 'Consultando con {ext}…', completeTransfer: 'Completar transferencia',
    recPause: 'Pausar grabación', recResume: 'Reanudar grabación', recPaused: 'Grabación en pausa', recResumed: 'Grabando',
    callsPerHour: 'Llamadas por hora', slThroughDay: 'Nivel de servicio a lo largo del día', outbound: 'Saliente', inbound: 'Entrante',
    create: 'Crear', cancel: 'Cancelar', edit: 'Editar', delete: 'Borrar', deleted: 'Borrado', created: 'Creado',
    sipPassword: 'Contraseña SIP', passwordHint: 'vacía: se genera (o no cambia)', generatedPassword: 'contraseña generada (se muestra una vez)',
    wrapupS: 'Post-llamada (s)', ringS: 'Timbre (s)', maxWaitS: 'Espera máx. (s)', slS: 'Objetivo NS (s)', weights: 'Pesos', members: 'Miembros',
    queueFields: { wrapup_s: 'Post-llamada (s)', ring_timeout_s: 'Timbre (s)', max_misses: 'Perdidas máx.', max_wait_s: 'Espera máx. (s)',
      service_level_s: 'Objetivo NS (s)', announce_every_s: 'Anuncio cada (s)' },
    record_calls: 'Grabar', host: 'Host', address: 'Dirección', port: 'Puerto', target: 'Destino',
  },
  en: {
    appName: 'AIT-COMMS', login: 'Sign in', email: 'E-mail', password: 'Password',
    loginFailed: 'Wrong user or password', locked: 'Account temporarily locked',
    logout: 'Sign out', language: 'Language', agentDesk: 'Desktop', wallboard: 'Wallboard', admin: 'Admin', qualityReviews: 'Quality', calls: 'Calls', campaigns: 'Campaigns',
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
    captions: 'Live transcript', transcriptIncomplete: 'Transcript incomplete', notTranscribed: 'Not transcribed', kbSuggested: 'Suggested articles', keywordAlerts: 'Keyword alerts', knowledgeBase: 'Knowledge base', title: 'Title', body: 'Text', tags: 'Tags', speechPolicies: 'Transcription per queue', transcribe: 'Transcribe',
    supervisionRequested: 'Your phone will ring', trunks: 'Trunks', dids: 'Numbers', dialplan: 'Dialplan',
    name: 'Name', extension: 'Extension', skills: 'Skills', languages: 'Languages', missed: 'Missed in a row',
    newQuote: 'Quote', product: 'Product', products: { auto: 'Auto', home: 'Home' }, carrier: 'Carrier',
    vehicleYear: 'Registration year', make: 'Make', model: 'Model', plate: 'Plate', driverAge: "Driver's age",
    experience: 'Years licensed', claimsCount: 'Claims (5 years)', homeKind: 'Dwelling',
    homeKinds: { piso: 'Flat', adosado: 'Terraced house', chalet: 'Detached house' }, m2: 'Surface (m²)', built: 'Year built',
    contents: 'Contents (€)', priceQuote: 'Price it', annualPremium: 'Annual premium', base: 'Base premium',
    factors: { vehicle_age: 'Vehicle age', make: 'Make', driver_age: "Driver's age", experience: 'Experience',
      claims: 'Claims', kind: 'Dwelling', size: 'Surface', building_age: 'Building age', contents: 'Contents' },
    discounts: { loyalty: 'Loyalty discount', no_claims: 'No-claims discount' },
    competitors: "Competitors' prices", noCompetitors: "No competitors' prices for this quote",
    acceptQuote: 'Accept: issue the policy', policyIssued: 'Policy issued:', sales: 'Live sales activity',
    time: 'Time', kind: 'Kind', number: 'Number', premium: 'Premium', quoteCreated: 'Quote', policyCreated: 'Policy',
    dialplanVersions: 'Dialplan versions', dpDiff: 'Show diff', dpApply: 'Apply', dpRollback: 'Roll back',
    dpNoDiff: 'No difference: the running dialplan is what the sources render', dpApplied: 'Version applied',
    dpNothing: 'Nothing to apply', action: 'Action', author: 'Author', contexts: 'Contexts', version: 'Version',
    customers: 'Customers', search: 'Search', searchCustomer: 'Find a customer', searchHint: 'Name, phone, DNI or e-mail',
    call: 'Call', calling: 'Calling', dialing: 'Calling…', notConnected: 'No answer: {n}', record: 'Record',
    myTasks: 'My tasks', taskKinds: { callback: 'Call back', follow_up: 'Follow-up' },
    transferTo: 'Transfer to (extension or queue)', transfer: 'Transfer', transferred: 'Transferred',
    consult: 'Consult', consulting: 'Consulting {ext}…', completeTransfer: 'Complete transfer',
    recPause: 'Pause recording', recResume: 'Resume recording', recPaused: 'Recording paused', recResumed: 'Recording',
    callsPerHour: 'Calls per hour', slThroughDay: 'Service level through the day', outbound: 'Outbound', inbound: 'Inbound',
    create: 'Create', cancel: 'Cancel', edit: 'Edit', delete: 'Delete', deleted: 'Deleted', created: 'Created',
    sipPassword: 'SIP password', passwordHint: 'empty: generated (or unchanged)', generatedPassword: 'generated password (shown once)',
    wrapupS: 'Wrap-up (s)', ringS: 'Ring (s)', maxWaitS: 'Max wait (s)', slS: 'SL target (s)', weights: 'Weights', members: 'Members',
    queueFields: { wrapup_s: 'Wrap-up (s)', ring_timeout_s: 'Ring (s)', max_misses: 'Max misses', max_wait_s: 'Max wait (s)',
      service_level_s: 'SL target (s)', announce_every_s: 'Announce every (s)' },
    record_calls: 'Record', host: 'Host', address: 'Address', port: 'Port', target: 'Target',
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
