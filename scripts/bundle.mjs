// Bundles the compiled server (dist/src/cli/main.js and everything it imports, our
// modules and the npm packages alike) into one ES module, dist/tsetcd.mjs, which
// bin/tsetcd runs. A start then reads one file instead of resolving, opening and
// linking some 450 modules, which was a third of the CPU a member spends before it
// serves (docs/operations.md, "Start-up"). classic-level stays outside: it loads its
// native addon relative to its own package. The source map chains through dist/'s
// own maps. Node would keep the whole map parsed on its heap (some 85 MiB of a member's
// memory, and a quarter of its start-up CPU) if bin/tsetcd passed --enable-source-maps,
// so it does not: the log lines' `caller` is mapped through a line table written here
// instead (docs/operations.md, "Start-up").
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/tsetcd.mjs');

await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile,
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

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * The source map's first mapped position on each generated line, as the table
 * src/cli/logger.ts reads: `lines[2*i]` is the index in `sources` (or -1 when line i+1
 * maps nowhere) and `lines[2*i+1]` the 1-based original line. The bundle is not minified,
 * so a generated line holds one source line's code.
 */
function lineTable(map) {
  const lines = [];
  let src = 0;
  let origLine = 0;
  for (const genLine of map.mappings.split(';')) {
    let first = -1;
    let firstLine = 0;
    for (const seg of genLine.split(',')) {
      if (seg === '') continue;
      const fields = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      if (fields.length < 4) continue;
      src += fields[1];
      origLine += fields[2];
      if (first < 0) {
        first = src;
        firstLine = origLine + 1;
      }
    }
    lines.push(first, first < 0 ? 0 : firstLine);
  }
  return { sources: map.sources, lines };
}

const map = JSON.parse(readFileSync(`${outfile}.map`, 'utf8'));
writeFileSync(`${outfile}.lines.json`, JSON.stringify(lineTable(map)));
