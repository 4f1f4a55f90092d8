import { Writable } from 'node:stream';

/** Every line a pino logger wrote during a test, as it wrote it (for searching the logs). */
export class CapturedLog extends Writable {
  readonly chunks: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.chunks.push(chunk.toString('utf8'));
    done();
  }
  get text(): string {
    return this.chunks.join('');
  }
}
