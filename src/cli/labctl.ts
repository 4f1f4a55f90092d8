/** labctl: support staff's CLI over the HTTP API. See `labctl --help` and docs/operations.md. */
import { CommanderError } from 'commander';
import { readLabctlEnvironment } from '../config';
import { buildProgram } from './labctl/commands';
import { CliError, EXIT } from './labctl/exit-codes';
import { processIo } from './labctl/io';

async function main(argv: string[]): Promise<number> {
  const io = processIo();
  const program = buildProgram(readLabctlEnvironment(), io);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with code 0; commander already printed the message.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.progressDone();
    if (err instanceof CliError) {
      io.err(`labctl: ${err.message}`);
      return err.exitCode;
    }
    io.err(`labctl: unexpected error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.unavailable;
  }
}

void main(process.argv).then((code) => {
  process.exitCode = code;
});
