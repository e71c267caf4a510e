/**
 * A small client of etcd's JSON gateway (POST /v3/..., the Authorization header as the
 * token) for the tests that compare the auth store with a real etcd, and etcd's auth
 * revision as its etcd_debugging_auth_revision metric shows it.
 */

export type Reply = { ok: true; body: Record<string, unknown> } | { ok: false; message: string };

export async function gatewayCall(baseUrl: string, path: string, body: object, token?: string): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers['authorization'] = token;
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${path}: HTTP ${res.status}: ${text}`);
  }
  if (typeof json['error'] === 'string') return { ok: false, message: json['error'] };
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return { ok: true, body: json };
}

export async function etcdAuthRevision(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const m = /^etcd_debugging_auth_revision (\d+)$/m.exec(text);
  if (m === null) throw new Error('no etcd_debugging_auth_revision in /metrics');
  return Number(m[1]);
}

/** Logs in through the gateway and returns the token; throws with etcd's message otherwise. */
export async function gatewayLogin(baseUrl: string, name: string, password: string): Promise<string> {
  const r = await gatewayCall(baseUrl, '/v3/auth/authenticate', { name, password });
  if (!r.ok) throw new Error(`${name} cannot log in: ${r.message}`);
  return String(r.body['token']);
}

export const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
export const PERM_NAMES = ['READ', 'WRITE', 'READWRITE'] as const;
