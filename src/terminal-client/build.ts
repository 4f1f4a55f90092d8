import { build, type BuildOptions } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleOptions as heartbeatBundleOptions } from '../heartbeat-client/build';

/** The built terminal (xterm.js included) that the XBlock ships (committed, so pip needs no Node). */
export const TERMINAL_BUNDLE = 'xblock/openedx_lab_xblock/static/js/terminal.js';
/** xterm.js's stylesheet, copied (the terminal's frame is styled by the XBlock's lab.css). */
export const TERMINAL_CSS = 'xblock/openedx_lab_xblock/static/css/terminal.css';

const ROOT = resolve(__dirname, '../..');
const read = (path: string): string => readFileSync(resolve(ROOT, path), 'utf8');

/** One definition of the bundle, for `npm run build:terminal` and the test that it is current. */
export function bundleOptions(outfile: string): BuildOptions {
  return {
    // The heartbeat bundle's options (an IIFE for browsers, es2020), with this entry.
    ...heartbeatBundleOptions(outfile),
    entryPoints: ['src/terminal-client/index.ts'],
    minify: true,
    // xterm.js's licence comments stay, and its licence text closes the file.
    legalComments: 'eof',
    banner: {
      js: '/* The lab terminal (xterm.js, MIT), built from src/terminal-client by `npm run build:terminal`: do not edit. */',
    },
    footer: {
      js: `/*! xterm.js and @xterm/addon-fit:\n${read('node_modules/@xterm/xterm/LICENSE')}*/`,
    },
  };
}

/** The stylesheet the XBlock ships next to the bundle. */
export function stylesheet(): string {
  return (
    '/* node_modules/@xterm/xterm/css/xterm.css, copied by `npm run build:terminal`: do not edit. */\n' +
    read('node_modules/@xterm/xterm/css/xterm.css')
  );
}

if (require.main === module) {
  build(bundleOptions(resolve(ROOT, TERMINAL_BUNDLE)))
    .then(() => writeFileSync(resolve(ROOT, TERMINAL_CSS), stylesheet()))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
