// The REST API with the signed-in user's tokens (kept in localStorage so a
// reload keeps the session; the refresh token renews the short access token).
const KEY = 'aitcomms.tokens';

export function tokens() {
  try { return JSON.parse(localStorage.getItem(KEY)) || null; } catch { return null; }
}

function store(pair) {
  if (pair) localStorage.setItem(KEY, JSON.stringify(pair)); else localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.reason || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function login(email, password) {
  const resp = await fetch('/api/v1/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, body);
  store({ access: body.access_token, refresh: body.refresh_token });
}

let refreshing = null;
export async function refresh() {
  const pair = tokens();
  if (!pair) throw new ApiError(401, { error: 'unauthenticated' });
  refreshing ||= (async () => {
    try {
      const resp = await fetch('/api/v1/auth/refresh', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: pair.refresh }),
      });
      const body = await resp.json().catch(() => ({}));
      if (resp.status === 401) { store(null); throw new ApiError(401, body); }
      if (!resp.ok) throw new ApiError(resp.status, body);
      store({ access: body.access_token, refresh: body.refresh_token });
    } finally { refreshing = null; }
  })();
  return refreshing;
}

export async function logout() {
  const pair = tokens();
  store(null);
  if (pair) {
    await fetch('/api/v1/auth/logout', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: pair.refresh }),
    }).catch(() => {});
  }
}

export async function api(method, path, body, retry = true) {
  const pair = tokens();
  if (!pair) throw new ApiError(401, { error: 'unauthenticated' });
  const resp = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${pair.access}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (resp.status === 401 && retry) {
    await refresh();
    return api(method, path, body, false);
  }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}
