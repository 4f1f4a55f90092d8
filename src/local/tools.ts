import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const TOOLS_DIR = resolve(__dirname, '../../.tools');

/** What scripts/tools.sh found or installed (.tools/tools.json). */
export interface Tools {
  temporalCli: string;
  temporalVersion: string;
  mongod: string | null;
  ferretdb: string | null;
  /** PostgreSQL's bin directory, FerretDB's backend (absent or null: SQLite). */
  postgresBin?: string | null;
}

export function readTools(): Tools {
  const file = resolve(TOOLS_DIR, 'tools.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Tools;
  } catch {
    throw new Error(
      `${file} is missing: run \`npm run tools\` (scripts/tools.sh) to provision the Temporal CLI and MongoDB`,
    );
  }
}
