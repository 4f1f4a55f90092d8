import type { SecretsDocument, SecretsStore } from '../store/secrets';
import type { Envelope, SecretBox } from './envelope';

export interface ReencryptCounts {
  /** Labs whose secrets were looked at. */
  labs: number;
  /**
   * Secrets sealed with an older key, or before secrets were bound to their generation and
   * output (no `v`), now sealed with the current (first) key in the current format.
   */
  resealed: number;
  /** Secrets already under the current key and format. */
  current: number;
  /** Secrets sealed with a key no longer configured (or that do not open): left as they are. */
  unreadable: number;
  /** Labs whose document changed while we worked (a new stack): they already hold fresh envelopes. */
  skipped: number;
}

/**
 * Re-seals every secret that a key rotation left under an older key, so the old key can be
 * removed, and every secret sealed before envelopes were bound to their lab's generation and
 * output name (the document's generation and the output's name bind it now). Idempotent: a
 * second run finds nothing stale. Each lab's document is rewritten only if it still holds the
 * envelopes that were read (a lab rebuilt meanwhile wrote fresh ones). Labs are read in pages by
 * `_id`, each command bounded (maxTimeMS).
 */
export async function reencryptSecrets(
  secrets: SecretsStore,
  box: SecretBox,
): Promise<ReencryptCounts> {
  const counts: ReencryptCounts = { labs: 0, resealed: 0, current: 0, unreadable: 0, skipped: 0 };
  for await (const doc of pages(secrets)) {
    counts.labs += 1;
    const next: Record<string, Envelope> = {};
    let changed = 0;
    for (const [name, envelope] of Object.entries(doc.secrets)) {
      if (!box.isStale(envelope)) {
        counts.current += 1;
        next[name] = envelope;
        continue;
      }
      const binding = { labId: doc._id, generation: doc.generation, name };
      try {
        next[name] = box.seal(box.open(envelope, binding), binding);
        changed += 1;
      } catch {
        counts.unreadable += 1;
        next[name] = envelope;
      }
    }
    if (changed === 0) continue;
    if (await secrets.resealIfUnchanged(doc, next)) counts.resealed += changed;
    else counts.skipped += 1;
  }
  return counts;
}

const PAGE = 25;

/** Every lab's secrets, a page of PAGE documents per command (no cursor held open for the run). */
async function* pages(secrets: SecretsStore): AsyncGenerator<SecretsDocument> {
  let after: string | null = null;
  for (;;) {
    const page = await secrets.pageAfter(after, PAGE);
    yield* page;
    if (page.length < PAGE) return;
    after = page[page.length - 1]!._id;
  }
}
