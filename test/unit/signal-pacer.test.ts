import { SignalPacer } from '../../src/api/services/signal-pacer';

describe('heartbeat signals to a suspended lab', () => {
  it('signals at once, then backs off while the lab stays in the same state', () => {
    const pacer = new SignalPacer(5_000, 60_000);
    // A heartbeat every second for ten minutes on a lab held `suspending` (a Heat outage).
    const sent: number[] = [];
    for (let t = 0; t < 600_000; t += 1_000) if (pacer.take('lab-1', 'suspending', t)) sent.push(t);
    expect(sent.slice(0, 5)).toEqual([0, 5_000, 15_000, 35_000, 75_000]);
    expect(sent.length).toBeLessThanOrEqual(14); // 120 at the old fixed 5 s
    for (let i = 1; i < sent.length; i++)
      expect(sent[i]! - sent[i - 1]!).toBeLessThanOrEqual(60_000);
  });

  it('signals again at once when the state changes, and after a failed signal', () => {
    const pacer = new SignalPacer(5_000, 60_000);
    expect(pacer.take('lab-1', 'suspending', 0)).toBe(true);
    expect(pacer.take('lab-1', 'suspending', 1_000)).toBe(false);
    expect(pacer.take('lab-1', 'suspended', 2_000)).toBe(true);
    expect(pacer.take('lab-1', 'suspended', 3_000)).toBe(false);
    pacer.forget('lab-1');
    expect(pacer.take('lab-1', 'suspended', 3_500)).toBe(true);
    // Labs are paced one by one.
    expect(pacer.take('lab-2', 'suspended', 3_600)).toBe(true);
  });

  it('forgets labs whose learners left, and starts over when they return', () => {
    const pacer = new SignalPacer(5_000, 60_000);
    for (let t = 0; t < 300_000; t += 1_000) pacer.take('lab-1', 'suspended', t);
    pacer.sweep(500_000);
    expect(pacer.take('lab-1', 'suspended', 500_000)).toBe(true);
    expect(pacer.take('lab-1', 'suspended', 505_000)).toBe(true);
  });
});
