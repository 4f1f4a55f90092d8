import type { Collection, Db } from 'mongodb';
import { maxTime, type QueryOptions } from './deadlines';
import { isDuplicateKey } from './duplicate-key';

/** The SSH host key the API first saw on a lab's stack of one generation (trust on first use). */
export interface HostKeyDocument {
  /** `${labId}:${generation}`: a new stack (reset, rebuild) has a new key of its own. */
  _id: string;
  labId: string;
  generation: number;
  /** OpenSSH's form: `SHA256:` and the base64 (unpadded) SHA-256 of the key blob. */
  fingerprint: string;
  at: Date;
}

/** `pinned`: first seen now; `matches`: as seen before; `changed`: another key was seen before. */
export type HostKeyCheck =
  { outcome: 'pinned' | 'matches' } | { outcome: 'changed'; pinned: string };

/**
 * Host keys of labs' SSH servers (`host_keys`), for the API's browser terminal. The first
 * session on a stack records its key with an insert keyed by lab and generation, so of two
 * sessions racing on a fresh stack one key wins on MongoDB and FerretDB alike and the other is
 * compared with it; a different key later on the same stack refuses the session.
 */
export class HostKeysStore {
  /** @internal tests only: everything else goes through the methods below. */
  readonly collection: Collection<HostKeyDocument>;

  constructor(db: Db) {
    this.collection = db.collection<HostKeyDocument>('host_keys');
  }

  async check(
    labId: string,
    generation: number,
    fingerprint: string,
    now: Date,
    options?: QueryOptions,
  ): Promise<HostKeyCheck> {
    const _id = `${labId}:${generation}`;
    try {
      await this.collection.insertOne(
        { _id, labId, generation, fingerprint, at: now },
        maxTime(options, 'request'),
      );
      return { outcome: 'pinned' };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const pinned = await this.collection.findOne({ _id }, maxTime(options, 'request'));
    // Gone between the insert and the read: only a hand-made delete does that; pin again.
    if (!pinned) return this.check(labId, generation, fingerprint, now, options);
    return pinned.fingerprint === fingerprint
      ? { outcome: 'matches' }
      : { outcome: 'changed', pinned: pinned.fingerprint };
  }
}
