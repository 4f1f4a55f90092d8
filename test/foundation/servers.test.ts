import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { MongoClient } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { testServers, uniqueDbName } from '../support/servers';

describe('the real servers the suites run against', () => {
  const servers = testServers();

  it('runs a workflow on a real worker against the Temporal dev server', async () => {
    const connection = await NativeConnection.connect({ address: servers.temporalAddress });
    const taskQueue = `foundation-${randomUUID()}`;
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowsPath: require.resolve('./fixtures/greeting-workflow'),
      activities: { greet: async (name: string) => `hello, ${name}` },
    });
    const client = new Client({
      connection: await Connection.connect({ address: servers.temporalAddress }),
    });
    try {
      const result = await worker.runUntil(
        client.workflow.execute('greeting', {
          taskQueue,
          workflowId: `greeting-${randomUUID()}`,
          args: ['learner'],
        }),
      );
      expect(result).toBe('hello, learner');
    } finally {
      await client.connection.close();
      await connection.close();
    }
  });

  it('has the lab search attributes registered', async () => {
    const connection = await Connection.connect({ address: servers.temporalAddress });
    try {
      const custom =
        (await connection.operatorService.listSearchAttributes({ namespace: 'default' }))
          .customAttributes ?? {};
      expect(Object.keys(custom)).toEqual(
        expect.arrayContaining(['LabState', 'CourseId', 'LearnerId', 'LabName', 'Provider']),
      );
    } finally {
      await connection.close();
    }
  });

  it('round-trips a document through the MongoDB-compatible server over the wire', async () => {
    const client = new MongoClient(servers.mongoUri, { serverSelectionTimeoutMS: 5000 });
    try {
      const labs = client
        .db(uniqueDbName('foundation'))
        .collection<{ _id: string; state: string }>('labs');
      await labs.createIndex({ state: 1 });
      await labs.insertOne({ _id: 'lab_a', state: 'ready' });
      const updated = await labs.findOneAndUpdate(
        { _id: 'lab_a', state: 'ready' },
        { $set: { state: 'suspending' } },
        { returnDocument: 'after' },
      );
      expect(updated).toEqual({ _id: 'lab_a', state: 'suspending' });
      await expect(labs.insertOne({ _id: 'lab_a', state: 'ready' })).rejects.toThrow(
        /duplicate key/i,
      );
    } finally {
      await client.close();
    }
  });
});
