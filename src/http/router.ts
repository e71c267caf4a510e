/**
 * The plain-HTTP routes of a client or metrics URL (etcd embed/serve.go and
 * etcdhttp): the health, readiness and version endpoints (./health.ts), GET /metrics
 * (./metrics.ts), and etcd's 404 for everything else. gRPC never reaches this: the
 * listener sends application/grpc streams to the gRPC router first.
 */
import { serveHealthEndpoints, type HealthSource } from './health.js';
import type { MemberMetrics } from './metrics.js';
import type { HttpHandler, HttpResponse } from './types.js';

const NOT_FOUND: HttpResponse = { status: 404, headers: { 'content-type': 'text/plain' }, body: '404 page not found\n' };

export function memberHttpHandler(health: HealthSource, metrics: MemberMetrics): HttpHandler {
  return async (req) => {
    const answer = await serveHealthEndpoints(req, health);
    if (answer !== undefined) {
      if (new URL(req.url, 'http://x').pathname === '/health') metrics.healthChecked(answer.status === 200);
      return answer;
    }
    if (new URL(req.url, 'http://x').pathname === '/metrics' && req.method === 'GET') {
      const { contentType, body } = await metrics.render();
      return { status: 200, headers: { 'content-type': contentType }, body };
    }
    return NOT_FOUND;
  };
}
