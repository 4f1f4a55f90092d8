import type { Collection, Db } from 'mongodb';
import type { Envelope } from '../secrets/envelope';

/** A lab's secret stack outputs, each sealed; never in the lab projection, logs or workflow history. */
export interface SecretsDocument {
  _id: string;
  generation: number;
  secrets: Record<string, Envelope>;
  updatedAt: Date;
}

export class SecretsStore {
  readonly collection: Collection<SecretsDocument>;

  constructor(db: Db) {
    this.collection = db.collection<SecretsDocument>('secrets');
  }

  async put(
    labId: string,
    generation: number,
    secrets: Record<string, Envelope>,
    now: Date,
  ): Promise<void> {
    await this.collection.updateOne(
      { _id: labId },
      { $set: { generation, secrets, updatedAt: now } },
      { upsert: true },
    );
  }

  get(labId: string): Promise<SecretsDocument | null> {
    return this.collection.findOne({ _id: labId });
  }

  async remove(labId: string): Promise<void> {
    await this.collection.deleteOne({ _id: labId });
  }
}
