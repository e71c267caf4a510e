/**
 * The harness's rate clock (cluster/faketime-clock.ts) never steps a process's monotonic
 * clock back, and the check for it bites (test/jepsen/README.md "Clock rate"). A twin node
 * process under libfaketime reads CLOCK_MONOTONIC in a busy loop while the clock switches
 * between 1x, 2x and 0.5x (every direct switch among them): no read may be below the one
 * before, and the fake time that passed must match the rates' integral (so the switches
 * did apply). Control: with libfaketime's start 300 ms later than the harness computes with
 * (the flaw of taking the start at the spawn), a speed-up must step the clock back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { libfaketimePath, sleep } from './cluster/cluster.js';
import { FaketimeClock, watchClock } from './cluster/faketime-clock.js';

const dirs: string[] = [];
const clocks: FaketimeClock[] = [];
afterEach(() => {
  for (const c of clocks.splice(0)) c.dispose();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newClock(skewNs = 0n): FaketimeClock {
  const dir = mkdtempSync(join(tmpdir(), 'tsetcd-faketime-'));
  dirs.push(dir);
  const clock = new FaketimeClock(join(dir, 'clock'), true, skewNs);
  clocks.push(clock);
  clock.restart();
  return clock;
}

describe('faketime rate clock', () => {
  it('switches 1x/2x/0.5x without a step back, at the rates asked', async () => {
    const preload = libfaketimePath();
    const clock = newClock();
    const twin = await watchClock(clock, preload);
    await twin.go();
    const t0 = process.hrtime.bigint();
    const rates = [2, 0.5, 1, 0.5, 2, 1];
    // Expected fake time: the integral of the rate over real time from crossing to
    // crossing (where the process switches does not matter: after it, it reads the new
    // line, which meets the old one there).
    let expected = 0;
    let rate = 1;
    let last = t0;
    for (const r of rates) {
      await sleep(Math.floor(Math.random() * 150));
      const at = (await clock.setRate(r, true)) ?? process.hrtime.bigint();
      expected += Number(at - last) * rate;
      last = at;
      rate = r;
    }
    await sleep(100);
    const end = process.hrtime.bigint();
    expected += Number(end - last) * rate;
    const seen = await twin.stop();
    const fake = Number(seen.lastNs - seen.firstNs);
    console.log(
      `faketime clock: ${rates.length} switches, twin read ${seen.reads} times, ${seen.backSteps} steps back (largest ${(Number(seen.maxBackNs) / 1e6).toFixed(3)} ms); fake ${(fake / 1e6).toFixed(1)} ms, rates' integral ${(expected / 1e6).toFixed(1)} ms; late switches ${clock.lateSwitches}`,
    );
    expect(seen.reads).toBeGreaterThan(1000);
    expect(seen.backSteps).toBe(0);
    // The twin's first read comes before our t0 and its last after `end`, both at 1x
    // (pipe latency, one batch of reads; long on a loaded machine), so fake time may
    // exceed the integral by those. At 1x throughout it would be ~20 % short.
    expect(fake).toBeGreaterThan(expected - 5e6);
    expect(fake).toBeLessThan(expected + 400e6);
  }, 60_000);

  it('bites: a start 300 ms off steps the clock back at a speed-up', async () => {
    // Each speed-up steps back by 300 ms, less the at most 80 ms its new line meets the old
    // one ahead of the boundary, x the rate rise (twice, in case the twin was descheduled
    // across one).
    const clock = newClock(300_000_000n);
    const twin = await watchClock(clock, libfaketimePath());
    await twin.go();
    for (const r of [2, 1, 2]) await clock.setRate(r, true);
    await sleep(100);
    const seen = await twin.stop();
    console.log(`faketime clock, start 300 ms off: ${seen.backSteps} steps back, up to ${(Number(seen.maxBackNs) / 1e6).toFixed(1)} ms`);
    expect(seen.backSteps).toBeGreaterThan(0);
    expect(Number(seen.maxBackNs)).toBeGreaterThan(100e6);
  }, 60_000);
});
