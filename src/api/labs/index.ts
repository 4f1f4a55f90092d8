import type { Context } from 'koa';
import { labNamed } from '../../config';
import { labIdFor } from '../../temporal/ids';
import { queryLabStatus } from '../../temporal/lab-client';
import type { LabAction } from '../../../workflows/state';
import { conflict, notFound, unknownLab } from '../errors';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';
import { fingerprintOf } from '../services/watcher';
import { act, alreadyDeleted, askUnprojectedLab, launch, requireLab } from './actions';
import { connectionOf } from './connection';
import { labEventsRoute } from './events';
import { listLabs } from './list';
import {
  connectionSchema,
  getLabQuery,
  labIdParams,
  labListSchema,
  labSchema,
  launchBody,
  launchedLabSchema,
  listLabsQuery,
  type LabView,
} from './schema';
import { refuseIfUsedUp } from '../usage/view';
import { viewAfterLaunch, viewOfDocument, viewOfSnapshot } from './views';

/** A heartbeat token lives as long as the lab's life can: maxLifetime, or a year without one. */
const HEARTBEAT_TOKEN_DEFAULT_MS = 365 * 24 * 3_600_000;

/** One route per lab action (workflows/messages.ts LAB_ACTION_UPDATES): a Record, so none is missed. */
const ACTION_ROUTES: Record<
  LabAction,
  { method: 'post' | 'delete'; summary: string; access: 'labs' | 'admin' }
> = {
  reset: {
    method: 'post',
    summary: 'Reset: delete the stack and build a fresh one',
    access: 'labs',
  },
  suspend: { method: 'post', summary: 'Suspend now', access: 'labs' },
  delete: { method: 'delete', summary: 'Delete the stack and end the lab', access: 'labs' },
  retry: { method: 'post', summary: 'Retry a failed lab (admin)', access: 'admin' },
};

export function labRoutes(api: ApiServices): AnyRoute[] {
  const { store, config } = api.ctx;

  const readLab = async (labId: string) => {
    const doc = await api.deps.mongo('read lab', () => store.labs.get(labId));
    if (!doc) throw notFound(`no lab ${labId}`);
    return doc;
  };

  const action = (
    name: LabAction,
    method: 'post' | 'delete',
    summary: string,
    access: 'labs' | 'admin',
  ) =>
    defineRoute({
      operationId: `${name}Lab`,
      method,
      path: method === 'delete' ? '/v1/labs/{id}' : `/v1/labs/{id}/${name}`,
      summary,
      tag: 'labs',
      access,
      params: labIdParams,
      responses: [
        {
          status: 202,
          description:
            name === 'delete'
              ? 'accepted, or the lab was already deleting or deleted (idempotent): the lab'
              : 'accepted: the lab',
          schema: labSchema,
        },
      ],
      errors: [404, 409],
      async handle(koa: Context, { params, principal }) {
        const doc = await requireLab(api, params.id);
        let view: LabView;
        try {
          view = await viewOfSnapshot(api, await act(api, params.id, name, principal), doc);
        } catch (err) {
          // DELETE is idempotent: a lab already deleted answers with itself, not a refusal.
          const deleted = name === 'delete' ? await alreadyDeleted(api, params.id, err) : null;
          if (!deleted) throw err;
          view = await viewOfDocument(api, deleted);
        }
        koa.status = 202;
        koa.body = view;
      },
    });

  return [
    defineRoute({
      operationId: 'launchLab',
      method: 'post',
      path: '/v1/labs',
      summary: 'Launch a lab (idempotent: resumes a suspended lab, retries a failed one)',
      tag: 'labs',
      access: 'labs',
      body: launchBody,
      // A learner relaunching in a loop (one lab, or every lab of the catalog) is held on its own.
      rateSubject: ({ body }) => ({
        labId: labIdFor(body.courseId, body.learnerId, body.lab),
        learner: `${body.courseId} ${body.learnerId}`,
      }),
      responses: [
        { status: 200, description: 'the lab was already ready', schema: launchedLabSchema },
        { status: 202, description: 'launch accepted', schema: launchedLabSchema },
      ],
      errors: [403, 422],
      async handle(koa, { body }) {
        const policy = labNamed(config, body.lab);
        if (!policy) throw unknownLab(body.lab);
        const labId = labIdFor(body.courseId, body.learnerId, body.lab);
        await refuseIfUsedUp(api, body, labId);
        const lab = await viewAfterLaunch(api, labId, body, await launch(api, body));
        const heartbeatToken = api.heartbeatTokens.issue(
          labId,
          policy.maxLifetime ?? HEARTBEAT_TOKEN_DEFAULT_MS,
        );
        koa.status = lab.state === 'ready' ? 200 : 202;
        koa.body = { ...lab, heartbeatToken };
      },
    }),
    defineRoute({
      operationId: 'listLabs',
      method: 'get',
      path: '/v1/labs',
      summary: 'List labs, newest first (admin)',
      tag: 'labs',
      access: 'admin',
      query: listLabsQuery,
      responses: [{ status: 200, description: 'a page of labs', schema: labListSchema }],
      errors: [],
      async handle(koa, { query }) {
        koa.body = await listLabs(api, query);
      },
    }),
    defineRoute({
      operationId: 'getLab',
      method: 'get',
      path: '/v1/labs/{id}',
      summary: 'The lab; with wait=N, as soon as its state or progress changes (or after N s)',
      tag: 'labs',
      access: 'labs',
      params: labIdParams,
      query: getLabQuery,
      responses: [{ status: 200, description: 'the lab', schema: labSchema }],
      errors: [404],
      async handle(koa, { params, query }) {
        let doc = await api.deps.mongo('read lab', () => store.labs.get(params.id));
        if (!doc) {
          // Launched a moment ago, first projection write still on its way: the workflow knows.
          const snapshot = await askUnprojectedLab(api.deps, params.id, 'query lab', () =>
            queryLabStatus(api.ctx.temporal.client, params.id),
          );
          koa.body = await viewOfSnapshot(api, snapshot, null);
          return;
        }
        if (query.wait) {
          const changed = await api.watcher.wait(
            params.id,
            fingerprintOf(doc),
            query.wait * 1000,
            (stop) => koa.res.once('close', stop),
          );
          doc = changed ?? (await readLab(params.id));
        }
        koa.body = await viewOfDocument(api, doc);
      },
    }),
    defineRoute({
      operationId: 'heartbeat',
      method: 'post',
      path: '/v1/labs/{id}/heartbeat',
      summary: "Learner activity (the lab's heartbeat token, or a service or admin token)",
      tag: 'labs',
      access: 'heartbeat',
      rateLimited: false,
      ignoreBody: true,
      params: labIdParams,
      responses: [{ status: 204, description: 'recorded' }],
      errors: [404, 409],
      async handle(koa, { params, principal }) {
        const tokenExpiredAt = principal?.kind === 'heartbeat' ? principal.expiredAt : null;
        await api.heartbeats.accept(params.id, tokenExpiredAt);
        koa.status = 204;
      },
    }),
    ...(Object.keys(ACTION_ROUTES) as LabAction[]).map((name) => {
      const { method, summary, access } = ACTION_ROUTES[name];
      return action(name, method, summary, access);
    }),
    labEventsRoute(api),
    defineRoute({
      operationId: 'getLabConnection',
      method: 'get',
      path: '/v1/labs/{id}/connection',
      summary: 'Connection details with decrypted secrets (service token only)',
      tag: 'labs',
      access: 'service',
      params: labIdParams,
      responses: [{ status: 200, description: 'how to connect', schema: connectionSchema }],
      errors: [404, 409],
      async handle(koa, { params }) {
        koa.set('Cache-Control', 'no-store');
        // Launched a moment ago, first projection write still on its way: not ready yet.
        const doc = await requireLab(api, params.id);
        if (!doc) throw conflict(`lab ${params.id} is queued, not ready`, { state: 'queued' });
        koa.body = await connectionOf(api, doc);
      },
    }),
  ];
}
