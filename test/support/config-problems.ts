import { ConfigError, parseConfig } from '../../src/config';

/** The problems a configuration text is refused with; fails the test when it is accepted. */
export function configProblemsOf(
  text: string,
  lookup: Record<string, string>,
): ConfigError['problems'] {
  try {
    parseConfig(text, 'labs.yaml', lookup);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the configuration to be refused');
}
