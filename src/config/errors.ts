/** One problem in the configuration: where it is and what is wrong. */
export interface ConfigProblem {
  file: string;
  /** Dotted path to the field, e.g. labs.linux-basics.idleTimeout. */
  path: string;
  /** 1-based line in the file when known. */
  line?: number;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems
          .map(
            (p) =>
              `  ${p.file}${p.line ? `:${p.line}` : ''}: ${p.path || '(top level)'}: ${p.message}`,
          )
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}
