// Bundles the compiled server (dist/src/cli/main.js and everything it imports, our
// modules and the npm packages alike) into one ES module, dist/tsetcd.mjs, which
// bin/tsetcd runs. A start then reads one file instead of resolving, opening and
// linking some 450 modules, which was a third of the CPU a member spends before it
// serves (docs/operations.md, "Start-up"). classic-level stays outside: it loads its
// native addon relative to its own package. The source map chains through dist/'s
// own maps, so stack traces and log callers name src/*.ts lines (--enable-source-maps
// in bin/tsetcd).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile: join(root, 'dist/tsetcd.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['classic-level'],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  // The CommonJS packages inside call require() for node's own modules.
  banner: { js: "import { createRequire as __tsetcdRequire } from 'node:module';\nconst require = __tsetcdRequire(import.meta.url);" },
});
