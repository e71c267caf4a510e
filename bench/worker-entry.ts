/**
 * Worker-thread bootstrap: serves one share of a run for the runner (share.ts).
 * Kept separate from worker.ts so the inline mode can import the logic without
 * touching worker_threads' parentPort.
 */
import { parentPort } from 'node:worker_threads';
import type { ToWorker } from './share.js';
import { serveShare } from './worker.js';

const port = parentPort;
if (port === null) throw new Error('bench/worker-entry must run in a worker thread');
serveShare({
  postMessage: (m) => port.postMessage(m),
  on: (_event, listener) => port.on('message', (m: ToWorker) => listener(m)),
});
