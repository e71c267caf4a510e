// Loads etcd 3.4's own .proto files as shipped by Debian's golang-etcd-server-dev
// (the reference the fidelity test compares tsetcd's proto/ against).
//
// Contract: loadDebianProtos() throws, naming the apt-get command, when the package
// is missing (the test must fail, not skip: CI installs it). The files import
// gogoproto and google.api annotations that are not installed and that change
// neither the wire nor method paths; stripForeignOptions() removes those imports
// and options textually, then every file is parsed into one Root (imports between
// etcd's own files are satisfied by parsing them all) and resolved.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import type { Root } from 'protobufjs';

export const DEBIAN_ETCD_SRC = '/usr/share/gocode/src/go.etcd.io/etcd';
export const DEBIAN_INSTALL_HINT = 'apt-get install -y golang-etcd-server-dev';

/** Debian etcd 3.4 files, in dependency order, paths relative to DEBIAN_ETCD_SRC. */
export const DEBIAN_PROTO_FILES: readonly string[] = [
  'mvcc/mvccpb/kv.proto',
  'auth/authpb/auth.proto',
  'etcdserver/etcdserverpb/rpc.proto',
  'etcdserver/api/v3election/v3electionpb/v3election.proto',
  'etcdserver/api/v3lock/v3lockpb/v3lock.proto',
];

export function debianProtoPaths(srcRoot: string = DEBIAN_ETCD_SRC): string[] {
  return DEBIAN_PROTO_FILES.map((f) => path.join(srcRoot, f));
}

/** Removes `option (name) = { ... };` blocks (balanced braces) for every option name matching re. */
function stripBlockOptions(text: string, re: RegExp): string {
  let out = '';
  let rest = text;
  for (;;) {
    const m = re.exec(rest);
    if (m === null) return out + rest;
    out += rest.slice(0, m.index);
    let i = m.index + m[0].length;
    let depth = 0;
    let seenBrace = false;
    for (; i < rest.length; i++) {
      const c = rest[i];
      if (c === '{') {
        depth++;
        seenBrace = true;
      } else if (c === '}') {
        depth--;
        if (seenBrace && depth === 0) {
          i++;
          break;
        }
      } else if (c === ';' && !seenBrace) break; // `option (x) = value;` form
    }
    while (i < rest.length && /[\s;]/.test(rest[i] ?? '')) {
      if (rest[i] === ';') {
        i++;
        break;
      }
      i++;
    }
    rest = rest.slice(i);
  }
}

/** Textually removes gogoproto/google.api imports and options; comments are dropped too. */
export function stripForeignOptions(text: string): string {
  let t = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  t = t.replace(/^\s*import\s+"[^"]*";\s*$/gm, ''); // all imports: files are parsed into one Root
  t = stripBlockOptions(t, /option\s*\(\s*google\.api\.http\s*\)\s*=\s*/);
  t = t.replace(/^\s*option\s*\(\s*gogoproto\.[\w.]+\s*\)\s*=\s*[^;]*;\s*$/gm, '');
  t = t.replace(/\[\s*\(gogoproto\.[^\]]*\]/g, ''); // field options such as [(gogoproto.nullable) = false]
  if (/gogoproto|google\.api/.test(t)) throw new Error('a gogoproto/google.api option survived stripping');
  return t;
}

/** etcd 3.4's API protos as one resolved Root, with the .proto spelling of names. */
export function loadDebianProtos(srcRoot: string = DEBIAN_ETCD_SRC): Root {
  const files = debianProtoPaths(srcRoot);
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new Error(
      `Debian's etcd 3.4 protos are missing (${missing.join(', ')}). ` +
        `Install them with: ${DEBIAN_INSTALL_HINT}`,
    );
  }
  const root = new protobuf.Root();
  for (const file of files) {
    protobuf.parse(stripForeignOptions(readFileSync(file, 'utf8')), root, { keepCase: true });
  }
  root.resolveAll();
  return root;
}
