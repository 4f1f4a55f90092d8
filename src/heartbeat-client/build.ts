import { build, type BuildOptions } from 'esbuild';
import { resolve } from 'node:path';

/** The built heartbeat client that the XBlock ships (committed, so pip needs no Node). */
export const HEARTBEAT_BUNDLE = 'xblock/openedx_lab_xblock/static/js/heartbeat.js';

const ROOT = resolve(__dirname, '../..');

/** One definition of the bundle, for `npm run build:heartbeat` and the test that it is current. */
export function bundleOptions(outfile: string): BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints: ['src/heartbeat-client/index.ts'],
    outfile,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    legalComments: 'none',
    banner: {
      js: '/* The lab heartbeat client, built from src/heartbeat-client by `npm run build:heartbeat`: do not edit. */',
    },
    logLevel: 'warning',
  };
}

if (require.main === module) {
  build(bundleOptions(resolve(ROOT, HEARTBEAT_BUNDLE))).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
