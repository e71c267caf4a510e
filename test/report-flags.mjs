// Prints extra vitest flags: with CI_REPORT_DIR set, a JSON report per tier next to
// the default reporter, which .ci/run sums into its closing "N passed, N failed" line.
const dir = process.env.CI_REPORT_DIR;
const tier = process.argv[2] ?? 'all';
process.stdout.write(dir ? `--reporter=default --reporter=json --outputFile.json=${dir}/${tier}.json` : '');
