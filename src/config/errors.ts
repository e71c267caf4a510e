/**
 * ConfigError: the one error type config/ throws.
 *
 * Contract: `key` names the setting the way the user wrote it (a flag name without
 * dashes, an ETCD_* variable, or a YAML key path such as
 * `client-transport-security.cert-file`), `problem` says what is wrong, and `message`
 * is exactly one line, `<key>: <problem>`, so the CLI can print it and exit non-zero
 * (docs/configuration.md: a bad setting exits non-zero with one line that names the key and the problem).
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly key: string;
  readonly problem: string;

  constructor(key: string, problem: string) {
    const oneLineProblem = toOneLine(problem);
    super(`${key}: ${oneLineProblem}`);
    this.key = key;
    this.problem = oneLineProblem;
  }
}

/** Collapses line breaks (YAML parser and fs messages carry them) into single spaces. */
export function toOneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
