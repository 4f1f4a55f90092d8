/**
 * What the learner, staff or a timer asked of a lab and the main loop has not done yet. Update
 * handlers and signals only add here and answer at once; the lab's state handler takes the
 * intents it serves, in order, and drops those its state makes moot (a suspend of a lab being
 * deleted). An intent is held at most once.
 */
import type { LabIntent } from './messages';

export class IntentQueue {
  private intents: LabIntent[];

  constructor(carried: LabIntent[] = []) {
    this.intents = carried;
  }

  add(intent: LabIntent): void {
    if (!this.intents.includes(intent)) this.intents.push(intent);
  }

  /** The first of `wanted` asked for, removed from the queue. */
  take(...wanted: LabIntent[]): LabIntent | undefined {
    const found = this.intents.find((i) => wanted.includes(i));
    if (found) this.intents = this.intents.filter((i) => i !== found);
    return found;
  }

  drop(...unwanted: LabIntent[]): void {
    this.intents = this.intents.filter((i) => !unwanted.includes(i));
  }

  has(...wanted: LabIntent[]): boolean {
    return this.intents.some((i) => wanted.includes(i));
  }

  /** Anything asked at all: what a waiting state's condition wakes on. */
  any(): boolean {
    return this.intents.length > 0;
  }

  /** The queue as carried over continue-as-new. */
  list(): LabIntent[] {
    return this.intents;
  }
}
