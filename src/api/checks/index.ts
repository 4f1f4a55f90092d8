import { labNamed } from '../../config';
import type { CheckRunDocument } from '../../store';
import { requestCheckRun } from '../../temporal/lab-client';
import { ApiError, conflict, notFound } from '../errors';
import { refusal, requireLab } from '../labs/actions';
import { labIdParams } from '../labs/schema';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';
import {
  checkParams,
  checkRunListSchema,
  checkRunSchema,
  getCheckQuery,
  listChecksQuery,
  runChecksBody,
  type CheckRunView,
} from './schema';

/** How often a long-poll of a running check run re-reads it (each waiting request reads on its own). */
const WAIT_POLL_MS = 500;

/**
 * Graded checks (issue 17): the XBlock asks for a run of the learner's lab's checks and polls
 * it; the lab workflow runs it (workflows/lab-checks.ts) and the check activity records it.
 */
export function checkRoutes(api: ApiServices): AnyRoute[] {
  const read = (labId: string, checkId: string) =>
    api.deps.mongo('read check run', (deadline) =>
      api.ctx.store.checks.get(labId, checkId, deadline),
    );

  return [
    defineRoute({
      operationId: 'runChecks',
      method: 'post',
      path: '/v1/labs/{id}/checks',
      summary:
        "Run the lab's graded checks (or answer with the run in progress); the lab must be ready",
      tag: 'checks',
      // The LMS for its learners, and support staff (labctl check).
      access: 'labs',
      params: labIdParams,
      body: runChecksBody,
      responses: [{ status: 202, description: 'the run, running', schema: checkRunSchema }],
      errors: [404, 409, 422],
      async handle(koa, { params, body, principal }) {
        const doc = await requireLab(api, params.id);
        if (!doc || doc.state !== 'ready')
          throw conflict(`lab ${params.id} is ${doc?.state ?? 'queued'}, not ready`, {
            state: doc?.state ?? 'queued',
          });
        const checks = labNamed(api.ctx.config, doc.lab)?.checks ?? [];
        if (checks.length === 0)
          throw new ApiError(422, 'no_checks', `lab ${doc.lab} has no checks`, { lab: doc.lab });
        const unknown = (body?.names ?? []).filter((n) => !checks.some((c) => c.name === n));
        if (unknown.length > 0)
          throw new ApiError(422, 'unknown_check', `no check named ${unknown.join(', ')}`, {
            known: checks.map((c) => c.name),
          });
        const checkId = await api.deps.temporal(
          'run checks',
          () =>
            requestCheckRun(
              api.ctx.temporal.client,
              params.id,
              body?.names,
              principal?.kind ?? 'unknown',
            ),
          (err) => refusal(err, params.id, 'run checks'),
        );
        const run = await read(params.id, checkId);
        if (!run) throw new Error(`check run ${checkId} is not recorded`);
        koa.status = 202;
        koa.body = viewOf(run);
      },
    }),
    defineRoute({
      operationId: 'getCheckRun',
      method: 'get',
      path: '/v1/labs/{id}/checks/{checkId}',
      summary: 'A check run; with wait=N, as soon as it finishes (or after N s)',
      tag: 'checks',
      access: 'labs',
      params: checkParams,
      query: getCheckQuery,
      responses: [{ status: 200, description: 'the run', schema: checkRunSchema }],
      errors: [404],
      async handle(koa, { params, query }) {
        let run = await read(params.id, params.checkId);
        if (!run) throw notFound(`no check run ${params.checkId} of lab ${params.id}`);
        const deadline = Date.now() + (query.wait ?? 0) * 1000;
        let closed = false;
        koa.res.once('close', () => (closed = true));
        while (run.state === 'running' && Date.now() < deadline && !closed) {
          await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
          run = (await read(params.id, params.checkId)) ?? run;
        }
        koa.body = viewOf(run);
      },
    }),
    defineRoute({
      operationId: 'listCheckRuns',
      method: 'get',
      path: '/v1/labs/{id}/checks',
      summary: "The lab's check runs, newest first",
      tag: 'checks',
      access: 'labs',
      params: labIdParams,
      query: listChecksQuery,
      responses: [{ status: 200, description: 'the runs', schema: checkRunListSchema }],
      errors: [],
      async handle(koa, { params, query }) {
        const runs = await api.deps.mongo('list check runs', (deadline) =>
          api.ctx.store.checks.newest(params.id, query.limit, deadline),
        );
        koa.body = { checks: runs.map(viewOf) };
      },
    }),
  ];
}

function viewOf(run: CheckRunDocument): CheckRunView {
  return {
    id: run._id,
    labId: run.labId,
    state: run.state,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt ? run.finishedAt.toISOString() : null,
    score: run.score,
    results: run.results,
    error: run.error,
  };
}
