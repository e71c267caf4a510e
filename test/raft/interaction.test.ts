// Golden interaction tests (etcd-io/raft interaction_test.go): every
// test/raft/testdata/*.txt scenario is replayed and its transcript diffed exactly.
// Regenerate with REWRITE=1 and review the diff before committing it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runGolden, testdataDir } from './golden.js';

const files = readdirSync(testdataDir).filter((f) => f.endsWith('.txt')).sort();

describe('raft interaction (golden)', () => {
  it('has the scenarios the issue asks for', () => {
    for (const f of ['election', 'prevote-partition', 'checkquorum', 'replication-conflict', 'snapshot-catchup', 'learner-promote', 'remove-leader', 'transfer-leadership', 'read-index']) {
      expect(files).toContain(`${f}.txt`);
    }
  });
  for (const f of files) {
    it(f, () => {
      const path = `${testdataDir}/${f}`;
      const text = readFileSync(path, 'utf8');
      const actual = runGolden(text, {});
      if (process.env['REWRITE'] === '1' && actual !== text) writeFileSync(path, actual);
      else expect(actual).toBe(text);
    });
  }
});
