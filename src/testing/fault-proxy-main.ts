/**
 * The fault proxy as a process (fault-proxy.ts), one per member network namespace:
 *   node dist/src/testing/fault-proxy-main.js SELF_IP TARGET_HOST TARGET_PORT LISTEN_PORT SEED
 * Prints `listening <port>` once it accepts connections. Commands arrive as JSON lines on
 * stdin and each is answered by one JSON line on stdout:
 *   {"links": {"fromIp>toIp": LinkFault, ...}}  replaces the fault table → {"ok": true}
 *   {"stats": true}                             → {"stats": {"fromIp>toIp": LinkStats}}
 * It exits when stdin closes (the harness died or is done).
 */
import { createInterface } from 'node:readline';
import { SeededRng } from '../shared/rng.js';
import { FaultProxy, type LinkTable } from './fault-proxy.js';

async function main(): Promise<void> {
  const [selfIp, targetHost, targetPort, listenPort, seed] = process.argv.slice(2);
  if (selfIp === undefined || targetHost === undefined || seed === undefined) {
    process.stderr.write('usage: fault-proxy-main SELF_IP TARGET_HOST TARGET_PORT LISTEN_PORT SEED\n');
    process.exit(2);
  }
  const proxy = new FaultProxy({
    selfIp,
    targetHost,
    targetPort: Number(targetPort),
    rng: new SeededRng(Number(seed)),
  });
  const port = await proxy.listen(Number(listenPort));
  process.stdout.write(`listening ${port}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    try {
      const cmd = JSON.parse(line) as { links?: LinkTable; stats?: boolean };
      if (cmd.links !== undefined) {
        proxy.configure(cmd.links);
        process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
      } else if (cmd.stats === true) {
        process.stdout.write(`${JSON.stringify({ stats: proxy.allStats() })}\n`);
      } else {
        process.stdout.write(`${JSON.stringify({ error: 'unknown command' })}\n`);
      }
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
    }
  });
  lines.on('close', () => {
    void proxy.close().then(() => process.exit(0));
  });
}

void main();
