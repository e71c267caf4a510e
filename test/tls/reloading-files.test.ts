// src/tls's one reload source, as both the client listeners and the peer transport use
// it: new contents load only when a file's stat changes, at most once per check
// interval; a rotation caught half-written keeps the old contents until it completes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReloadingFiles } from '../../src/tls/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsetcd-tls-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ReloadingFiles', () => {
  it('loads changed files once per check interval and counts generations', () => {
    const a = join(dir, 'a.pem');
    const b = join(dir, 'b.pem');
    writeFileSync(a, 'a1');
    writeFileSync(b, 'b1');
    const files = new ReloadingFiles([a, b, undefined, a]);
    expect(files.read(a).toString()).toBe('a1');
    expect(files.generation).toBe(0);
    expect(files.reloadIfChanged(0)).toBe(false); // nothing changed

    writeFileSync(b, 'b2-longer');
    expect(files.reloadIfChanged(100)).toBe(false); // throttled: checked at 0
    expect(files.read(b).toString()).toBe('b1');
    expect(files.reloadIfChanged(1000)).toBe(true);
    expect(files.generation).toBe(1);
    expect(files.read(b).toString()).toBe('b2-longer');
    expect(files.read(a).toString()).toBe('a1');
    expect(() => files.read(join(dir, 'other.pem'))).toThrow(/not one of the watched files/);
  });

  it('keeps the old contents while a rotation is half done', () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    writeFileSync(cert, 'cert1');
    writeFileSync(key, 'key1');
    const files = new ReloadingFiles([cert, key]);
    unlinkSync(key); // the rotation removed the key and has not written the new one yet
    writeFileSync(cert, 'cert2-new');
    expect(files.reloadIfChanged(1000)).toBe(false);
    expect(files.generation).toBe(0);
    expect(files.read(cert).toString()).toBe('cert1');
    writeFileSync(key, 'key2-new');
    expect(files.reloadIfChanged(2000)).toBe(true);
    expect(files.read(cert).toString()).toBe('cert2-new');
    expect(files.read(key).toString()).toBe('key2-new');
  });
});
