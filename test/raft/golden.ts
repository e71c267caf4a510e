// Runs one golden scenario text through a fresh InteractionEnv (shared by the
// interaction test and the "tests bite" test, which runs them with bugs switched on).
import type { RaftBugs } from '../../src/raft/index.js';
import { runDataDriven } from './datadriven.js';
import { InteractionEnv } from './interaction-env.js';

export const testdataDir = new URL('./testdata', import.meta.url).pathname;

export function runGolden(text: string, bugs: RaftBugs): string {
  const env = new InteractionEnv(bugs);
  return runDataDriven(text, (cmd) => env.exec(cmd));
}
