/**
 * Auth on a bench cluster (compare-plan.ts authCases): user root with the root role,
 * user `bench` with role `bench` holding read-write on every key (from "\0" on), then
 * auth enabled. The same calls on either server, over the bench's own gRPC client; any
 * refusal throws (the case is then recorded as failed).
 */
import { readFileSync } from 'node:fs';
import { EtcdClient } from './etcd-client.js';
import { GrpcConn } from './grpc-h2.js';
import type { Pki } from './pki.js';

export const AUTH_BENCH_USER = 'bench';
export const AUTH_BENCH_PASSWORD = 'benchpw';

const AUTH = '/etcdserverpb.Auth/';
const ALL_KEYS = { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };

export async function enableAuth(endpoint: string, pki: Pki): Promise<void> {
  const tls = { ca: readFileSync(pki.caFile), cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) };
  const conn = await GrpcConn.connect(endpoint, tls);
  try {
    const c = new EtcdClient(conn);
    const steps: Array<[string, string, object]> = [
      ['UserAdd', 'AuthUserAddRequest', { name: 'root', password: 'rootpw' }],
      ['UserGrantRole', 'AuthUserGrantRoleRequest', { user: 'root', role: 'root' }],
      ['UserAdd', 'AuthUserAddRequest', { name: AUTH_BENCH_USER, password: AUTH_BENCH_PASSWORD }],
      ['RoleAdd', 'AuthRoleAddRequest', { name: AUTH_BENCH_USER }],
      ['RoleGrantPermission', 'AuthRoleGrantPermissionRequest', { name: AUTH_BENCH_USER, perm: { permType: 2, ...ALL_KEYS } }],
      ['UserGrantRole', 'AuthUserGrantRoleRequest', { user: AUTH_BENCH_USER, role: AUTH_BENCH_USER }],
      ['AuthEnable', 'AuthEnableRequest', {}],
    ];
    for (const [method, type, req] of steps) await c.call(`${AUTH}${method}`, `etcdserverpb.${type}`, req);
  } finally {
    conn.close();
  }
}
