/** Where labctl writes: results to stdout, messages and progress to stderr (scripts pipe stdout). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** A progress line: rewritten in place on a terminal, one line each otherwise. */
  progress(line: string): void;
  /** Ends an in-place progress line. */
  progressDone(): void;
}

export function processIo(): Io {
  const tty = process.stderr.isTTY === true;
  let open = false;
  return {
    out: (text) => void process.stdout.write(`${text}\n`),
    err: (text) => {
      if (open) process.stderr.write('\n');
      open = false;
      process.stderr.write(`${text}\n`);
    },
    progress: (line) => {
      if (tty) {
        process.stderr.write(`\r\x1b[2K${line}`);
        open = true;
      } else process.stderr.write(`${line}\n`);
    },
    progressDone: () => {
      if (open) process.stderr.write('\n');
      open = false;
    },
  };
}
