/**
 * The part of xterm.js (@xterm/xterm 6) and @xterm/addon-fit that browser.ts uses, declared here
 * because their own typings reference the DOM library, which would then apply to the whole
 * program (the API, the worker, the tests). xterm.js is what esbuild bundles.
 */

interface Disposable {
  dispose(): void;
}

export interface TerminalSettings {
  cursorBlink?: boolean;
  disableStdin?: boolean;
  scrollback?: number;
  fontFamily?: string;
  fontSize?: number;
  theme?: { background?: string; foreground?: string };
}

export declare class Terminal implements Disposable {
  constructor(options?: TerminalSettings);
  readonly cols: number;
  readonly rows: number;
  /** `parent` is an HTMLElement. */
  open(parent: unknown): void;
  loadAddon(addon: FitAddon): void;
  onData(listener: (data: string) => void): Disposable;
  onBinary(listener: (data: string) => void): Disposable;
  write(data: string | Uint8Array): void;
  focus(): void;
  dispose(): void;
}

export declare class FitAddon implements Disposable {
  fit(): void;
  dispose(): void;
}
