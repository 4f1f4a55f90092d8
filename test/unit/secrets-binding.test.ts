import { SecretBox, type Envelope } from '../../src/secrets/envelope';
import { reencryptSecrets } from '../../src/secrets/reencrypt';
import { openStore, type Store } from '../../src/store';
import { testServers, uniqueDbName } from '../support/servers';

const key = (id: string, fill: number) => ({ id, key: Buffer.alloc(32, fill) });
const LAB = `lab_${'a'.repeat(26)}`;
const OTHER_LAB = `lab_${'b'.repeat(26)}`;

/**
 * Sealed before secrets were bound to their generation and output (labId as the only associated
 * data), by the code of commit 2138596, with key k2025 = 32 bytes of 7, for lab
 * lab_legacyaaaaaaaaaaaaaaaaaaaaa. Such envelopes are in production databases and must still open.
 */
const LEGACY_LAB = 'lab_legacyaaaaaaaaaaaaaaaaaaaaa';
const LEGACY: Envelope = {
  keyId: 'k2025',
  iv: '/svkYta4VJR7va7X',
  tag: 'CpGuyrvUZOwfSZ8Dy/Gpuw==',
  data: 'suxk00nx2s9X5heK0C+XJto=',
};

describe('secrets bound to their lab, generation and output', () => {
  const box = new SecretBox([key('k1', 1)]);
  const binding = { labId: LAB, generation: 2, name: 'password' };

  it('opens only where it was sealed: another lab, generation or output does not open it', () => {
    const sealed = box.seal('s3cret-pw', binding);
    expect(box.open(sealed, binding)).toBe('s3cret-pw');
    expect(() => box.open(sealed, { ...binding, labId: OTHER_LAB })).toThrow();
    expect(() => box.open(sealed, { ...binding, generation: 1 })).toThrow();
    expect(() => box.open(sealed, { ...binding, generation: 3 })).toThrow();
    expect(() => box.open(sealed, { ...binding, name: 'private_key' })).toThrow();
  });

  it('keeps opening envelopes sealed before the binding existed (bound to their lab only)', () => {
    const legacyBox = new SecretBox([key('k2026', 9), key('k2025', 7)]);
    const where = { labId: LEGACY_LAB, generation: 3, name: 'password' };
    expect(legacyBox.open(LEGACY, where)).toBe('legacy-password-1');
    expect(() => legacyBox.open(LEGACY, { ...where, labId: OTHER_LAB })).toThrow();
    // The new format is told apart by its version, not by trying both ways.
    const fresh = legacyBox.seal('new', where);
    expect(fresh.v).toBe(2);
    expect(LEGACY.v).toBeUndefined();
  });

  it('pins the GCM tag to 16 bytes: a truncated tag is refused', () => {
    const sealed = box.seal('s3cret-pw', binding);
    expect(Buffer.from(sealed.tag, 'base64')).toHaveLength(16);
    for (const bytes of [12, 8, 4]) {
      const truncated = {
        ...sealed,
        tag: Buffer.from(sealed.tag, 'base64').subarray(0, bytes).toString('base64'),
      };
      expect(() => box.open(truncated, binding)).toThrow(/tag/);
    }
    const legacyTruncated = {
      ...LEGACY,
      tag: Buffer.from(LEGACY.tag, 'base64').subarray(0, 12).toString('base64'),
    };
    expect(() =>
      new SecretBox([key('k2025', 7)]).open(legacyTruncated, {
        labId: LEGACY_LAB,
        generation: 1,
        name: 'password',
      }),
    ).toThrow(/tag/);
  });
});

describe('stored secrets over the wire', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore(testServers().mongoUri, { dbName: uniqueDbName('secrets') });
  });
  afterAll(() => store.close());

  it('a late retry of generation 1 never replaces the secrets of generation 2', async () => {
    const box = new SecretBox([key('k1', 1)]);
    const seal = (value: string, generation: number) => ({
      password: box.seal(value, { labId: LAB, generation, name: 'password' }),
    });
    await store.secrets.put(LAB, 1, seal('pw-g1', 1), new Date(1000));
    await store.secrets.put(LAB, 2, seal('pw-g2', 2), new Date(2000));
    // The readOutputs of generation 1, retried after its answer was lost, lands last.
    await store.secrets.put(LAB, 1, seal('pw-g1-late', 1), new Date(3000));
    const stored = (await store.secrets.get(LAB))!;
    expect(stored.generation).toBe(2);
    expect(
      box.open(stored.secrets.password!, { labId: LAB, generation: 2, name: 'password' }),
    ).toBe('pw-g2');
    // A retry of the same generation still writes (its first answer may have been lost).
    await store.secrets.put(LAB, 2, seal('pw-g2-again', 2), new Date(4000));
    const again = (await store.secrets.get(LAB))!;
    expect(box.open(again.secrets.password!, { labId: LAB, generation: 2, name: 'password' })).toBe(
      'pw-g2-again',
    );
    // And a newer generation replaces it.
    await store.secrets.put(LAB, 3, seal('pw-g3', 3), new Date(5000));
    expect((await store.secrets.get(LAB))!.generation).toBe(3);
  });

  it('reencrypt moves envelopes from before the binding onto the bound format, idempotently', async () => {
    await store.secrets.remove(LAB); // the test above's lab, under a key not listed here
    const box = new SecretBox([key('k2026', 9), key('k2025', 7)]);
    const boundOld = new SecretBox([key('k2025', 7)]).seal('bound-old-key', {
      labId: OTHER_LAB,
      generation: 1,
      name: 'password',
    });
    await store.secrets.put(LEGACY_LAB, 3, { password: LEGACY }, new Date());
    await store.secrets.put(OTHER_LAB, 1, { password: boundOld }, new Date());
    expect(await reencryptSecrets(store.secrets, box)).toMatchObject({
      resealed: 2,
      unreadable: 0,
    });
    const moved = (await store.secrets.get(LEGACY_LAB))!.secrets.password!;
    expect(moved).toMatchObject({ v: 2, keyId: 'k2026' });
    const where = { labId: LEGACY_LAB, generation: 3, name: 'password' };
    expect(new SecretBox([key('k2026', 9)]).open(moved, where)).toBe('legacy-password-1');
    expect(() => box.open(moved, { ...where, generation: 2 })).toThrow();
    expect(() => box.open(moved, { ...where, name: 'private_key' })).toThrow();
    expect(await reencryptSecrets(store.secrets, box)).toMatchObject({ resealed: 0 });
  });
});
