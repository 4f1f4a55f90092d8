import type { SecretsStore } from '../store/secrets';
import type { Envelope, SecretBox } from './envelope';

export interface ReencryptCounts {
  /** Labs whose secrets were looked at. */
  labs: number;
  /** Secrets sealed with an older key and now sealed with the current (first) one. */
  resealed: number;
  /** Secrets already under the current key. */
  current: number;
  /** Secrets sealed with a key no longer configured (or that do not open): left as they are. */
  unreadable: number;
  /** Labs whose document changed while we worked (a new stack): they already hold fresh envelopes. */
  skipped: number;
}

/**
 * Re-seals every secret that a key rotation left under an older key, so the old key can be
 * removed. Idempotent: a second run finds nothing stale. Each lab's document is rewritten only if
 * it still holds the envelopes that were read (a lab rebuilt meanwhile wrote fresh ones).
 */
export async function reencryptSecrets(
  secrets: SecretsStore,
  box: SecretBox,
): Promise<ReencryptCounts> {
  const counts: ReencryptCounts = { labs: 0, resealed: 0, current: 0, unreadable: 0, skipped: 0 };
  for await (const doc of secrets.collection.find({})) {
    counts.labs += 1;
    const next: Record<string, Envelope> = {};
    let changed = 0;
    for (const [name, envelope] of Object.entries(doc.secrets)) {
      if (!box.isStale(envelope)) {
        counts.current += 1;
        next[name] = envelope;
        continue;
      }
      try {
        next[name] = box.seal(box.open(envelope, doc._id), doc._id);
        changed += 1;
      } catch {
        counts.unreadable += 1;
        next[name] = envelope;
      }
    }
    if (changed === 0) continue;
    const result = await secrets.collection.updateOne(
      { _id: doc._id, generation: doc.generation, updatedAt: doc.updatedAt },
      { $set: { secrets: next } },
    );
    if (result.matchedCount === 1) counts.resealed += changed;
    else counts.skipped += 1;
  }
  return counts;
}
