import { Coalescer } from '../../src/util/coalesce';

/** A call the test settles by hand, recording when it was sent. */
function gate() {
  const sent: Array<{ resolve: (v: number) => void; reject: (e: Error) => void }> = [];
  const work = () =>
    new Promise<number>((resolve, reject) => {
      sent.push({ resolve, reject });
    });
  return { sent, work };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('sends 50 concurrent calls of one key as two: the running one and one follow-up', async () => {
    const c = new Coalescer<number>();
    const { sent, work } = gate();
    const first = c.run('lab', work);
    const rest = Array.from({ length: 49 }, () => c.run('lab', work));
    await flush();
    expect(sent).toHaveLength(1);
    sent[0]!.resolve(1);
    expect(await first).toBe(1);
    await flush();
    // Callers that arrived while the first call ran get the follow-up's answer, never the first.
    expect(sent).toHaveLength(2);
    sent[1]!.resolve(2);
    expect(new Set(await Promise.all(rest))).toEqual(new Set([2]));
    expect(c.size).toBe(0);
  });

  it('a caller arriving while the follow-up runs waits for a third call', async () => {
    const c = new Coalescer<number>();
    const { sent, work } = gate();
    void c.run('lab', work);
    const second = c.run('lab', work);
    await flush();
    sent[0]!.resolve(1);
    await flush();
    expect(sent).toHaveLength(2);
    const third = c.run('lab', work);
    sent[1]!.resolve(2);
    expect(await second).toBe(2);
    await flush();
    expect(sent).toHaveLength(3);
    sent[2]!.resolve(3);
    expect(await third).toBe(3);
    expect(c.size).toBe(0);
  });

  it('keeps keys apart, and a failed call fails only its own callers', async () => {
    const c = new Coalescer<number>();
    const { sent, work } = gate();
    const a = c.run('a', work);
    const b = c.run('b', work);
    await flush();
    expect(sent).toHaveLength(2);
    sent[0]!.reject(new Error('temporal is unavailable'));
    sent[1]!.resolve(7);
    await expect(a).rejects.toThrow('temporal is unavailable');
    expect(await b).toBe(7);
    const again = c.run('a', work);
    await flush();
    sent[2]!.resolve(8);
    expect(await again).toBe(8);
    expect(c.size).toBe(0);
  });

  it('a work function that throws synchronously rejects its callers and frees the key', async () => {
    const c = new Coalescer<number>();
    await expect(
      c.run('a', () => {
        throw new Error('bad request');
      }),
    ).rejects.toThrow('bad request');
    expect(c.size).toBe(0);
  });
});
