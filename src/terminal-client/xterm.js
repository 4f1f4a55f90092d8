// xterm.js and its fit add-on, for the bundle (esbuild reads this file). TypeScript reads
// xterm.d.ts instead: xterm's own typings pull the DOM library into the whole program.
export { Terminal } from '@xterm/xterm';
export { FitAddon } from '@xterm/addon-fit';
