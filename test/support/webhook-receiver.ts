/**
 * A course team's webhook endpoint on loopback: records every request, verifies its signature
 * with the Standard Webhooks library (as the product's docs tell receivers to), and answers what
 * the test decides per request (200 by default; a status, or `hold` to never answer).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { LabEvent } from '../../workflows/events';

export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  event: LabEvent;
  /** The library accepted the signature (and the timestamp). */
  verified: boolean;
  /** What this receiver answered (null: held, never answered). */
  answered: number | null;
}

export type Answer = number | 'hold';

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Decides the answer to each request; the previous ones for the same webhook-id are given. */
  answer: (request: ReceivedWebhook, earlier: ReceivedWebhook[]) => Answer;
  /** Requests of one lab, in arrival order. */
  of(labId: string): ReceivedWebhook[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const verifier = new Webhook(secret);
  const held = new Set<IncomingMessage>();
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    answer: () => 200,
    of: (labId) => receiver.received.filter((r) => r.event.data.labId === labId),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      let verified = true;
      try {
        verifier.verify(body, headers);
      } catch {
        verified = false;
      }
      const request: ReceivedWebhook = {
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        body,
        event: JSON.parse(body) as LabEvent,
        verified,
        answered: null,
      };
      const earlier = receiver.received.filter((r) => r.id === request.id);
      receiver.received.push(request);
      const answer = receiver.answer(request, earlier);
      if (answer === 'hold') {
        held.add(req);
        return;
      }
      request.answered = answer;
      res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/labs`;
  return receiver;
}
