import { ApplicationFailure, Context } from '@temporalio/activity';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labNamed } from '../src/config';
import { ActionDurations } from '../src/openstack/durations';
import type { Stack, StackRef } from '../src/openstack/types';
import { pollInterval } from '../src/openstack/wait';
import { LAB_ID_PATTERN } from '../src/temporal/ids';
import type { StackInfo } from '../workflows/state';
import type { ActivityDeps } from './context';
import { asActivityFailure, FailureType, isHeatKind } from './errors';

const stackInfo = (s: Stack): StackInfo => ({
  id: s.id,
  name: s.name,
  status: s.status,
  statusReason: s.statusReason,
});
/** Heat no longer has the stack, or is deleting it (a type guard, so the other branch has a Stack). */
const isGone = (s: Stack | null): s is null => s === null || s.status.startsWith('DELETE_');
const inProgress = (s: Stack): boolean => s.status.endsWith('_IN_PROGRESS');
/**
 * States no stack action can leave: a create that failed (rollback is disabled, so Heat keeps
 * it as it failed) or was rolled back. A lab on such a stack is rebuilt; any other state is
 * resumed or suspended, if need be after an outage ends.
 */
const UNLEAVABLE = ['CREATE_FAILED', 'ROLLBACK_COMPLETE', 'ROLLBACK_FAILED'];
/**
 * A resume Heat refused because a resource is still *_IN_PROGRESS, with no action running:
 * an action asked for during another leaves that resource so for good, and every later resume
 * or suspend fails the same way (heat-contract.md, "suspend while CREATE_IN_PROGRESS").
 */
const stuckInProgress = (s: Stack): boolean =>
  s.status === 'RESUME_FAILED' &&
  /State \('\w+', 'IN_PROGRESS'\) invalid for resume/.test(s.statusReason);
/** The key Heat knows a stack by: its id, or its deterministic name when a create was never confirmed. */
const keyOf = (ref: StackRef): string => ref.id || ref.name;

interface StackTarget {
  labId: string;
  provider: string;
  stack: StackRef;
}

export function createStackActivities(deps: ActivityDeps) {
  const templates = new Map<string, string>();
  const readTemplate = (file: string): string => {
    let text = templates.get(file);
    if (text === undefined) {
      text = readFileSync(join(deps.templatesDir, file), 'utf8');
      templates.set(file, text);
    }
    return text;
  };
  // Heat is asked every half second for the first seconds of an action, then after a fifth of
  // the time waited: a 5 s resume is seen within 0.5 s of finishing, a 10-minute create costs a
  // poll every 10 s.
  const poll = () => ({
    minIntervalMs: deps.pollIntervalMs?.min ?? 500,
    maxIntervalMs: deps.pollIntervalMs?.max ?? 10_000,
  });
  // What creates and resumes have recently taken, so a wait looks near their end (durations.ts).
  const durations = new ActionDurations();

  /**
   * Seals the secret outputs of a stack into the secrets store and returns the others (the only
   * ones that reach the workflow). The secret names come from the workflow's last known policy,
   * else the configuration; for a lab known to neither, every output is secret.
   */
  async function sealOutputs(
    input: { labId: string; lab: string; generation: number; secretOutputs?: string[] },
    outputs: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const names = input.secretOutputs ?? labNamed(deps.config, input.lab)?.secretOutputs;
    const isSecret = (key: string) => (names ? names.includes(key) : true);
    const publicOutputs: Record<string, unknown> = {};
    const sealed: Record<string, ReturnType<ActivityDeps['secretBox']['seal']>> = {};
    for (const [key, value] of Object.entries(outputs)) {
      if (isSecret(key)) {
        if (value !== null && value !== undefined) {
          sealed[key] = deps.secretBox.seal(
            typeof value === 'string' ? value : JSON.stringify(value),
            { labId: input.labId, generation: input.generation, name: key },
          );
        }
      } else {
        publicOutputs[key] = value;
      }
    }
    await deps.store.secrets.put(input.labId, input.generation, sealed, deps.now?.() ?? new Date());
    return publicOutputs;
  }

  /**
   * Waits for a stack to leave *_IN_PROGRESS, heartbeating so a stuck worker is noticed; null
   * when Heat answers that the stack does not exist.
   */
  async function settle(
    provider: string,
    ref: StackRef,
    deadline: number,
    expectedMs?: number,
  ): Promise<Stack | null> {
    const heat = deps.heat(provider);
    const { minIntervalMs, maxIntervalMs } = poll();
    const started = Date.now();
    // An action just asked for is in progress: the first look waits for its usual time.
    if (expectedMs !== undefined)
      await Context.current().sleep(Math.min(expectedMs * 0.8, Math.max(0, deadline - Date.now())));
    for (;;) {
      const stack = await heat.getStack(ref).catch((err: unknown) => {
        if (isHeatKind(err, 'notFound')) return null;
        throw asActivityFailure(err);
      });
      if (stack === null || !inProgress(stack)) return stack;
      const ctx = Context.current();
      ctx.heartbeat({ status: stack.status });
      const interval = pollInterval(Date.now() - started, minIntervalMs, maxIntervalMs);
      if (Date.now() + interval > deadline) {
        throw ApplicationFailure.retryable(
          `stack ${stack.name} still ${stack.status} at the deadline`,
          FailureType.StackBusy,
        );
      }
      await ctx.sleep(interval);
    }
  }

  return {
    /**
     * Creates the lab's stack for this generation, or adopts the one an earlier attempt created
     * under the same deterministic name (a retried create never makes a second stack).
     */
    async createStack(input: {
      labId: string;
      lab: string;
      provider: string;
      stackName: string;
      timeoutMs: number;
    }): Promise<StackInfo> {
      const lab = labNamed(deps.config, input.lab);
      if (!lab)
        throw ApplicationFailure.nonRetryable(
          `lab "${input.lab}" is no longer in the configuration`,
          FailureType.UnknownLab,
        );
      const heat = deps.heat(input.provider);
      try {
        // Only a retried create can find its own stack: on a first attempt the name, unique to
        // this build, is new, and Heat's 409 for a duplicate name is adopted below anyway.
        if (Context.current().info.attempt > 1) {
          const existing = await heat.findStack(input.stackName);
          if (existing && !isGone(existing)) return stackInfo(existing);
        }
        const choice = lab.providers.find((p) => p.name === input.provider);
        const ref = await heat.createStack({
          name: input.stackName,
          template: readTemplate(lab.template),
          parameters: { ...lab.parameters, ...choice?.parameters },
          timeoutMins: Math.max(1, Math.ceil(input.timeoutMs / 60_000)),
          // Keep a failed stack as Heat left it: its reason is reported, then the workflow deletes it.
          disableRollback: true,
        });
        // What Heat says of a stack it has just accepted (heat-contract.md); the wait reads it.
        return { ...ref, status: 'CREATE_IN_PROGRESS', statusReason: 'Stack CREATE started' };
      } catch (err) {
        if (isHeatKind(err, 'conflict')) {
          const existing = await heat.findStack(input.stackName);
          if (existing && !isGone(existing)) return stackInfo(existing);
        }
        throw asActivityFailure(err);
      }
    },

    /**
     * Waits for CREATE_COMPLETE until the launch deadline, writing progress to the lab document.
     * A pool builds under its stack's name (`labId` is `pool-...`), which has no lab document:
     * its progress only heartbeats.
     */
    async waitForStackCreated(
      input: StackTarget & {
        generation: number;
        deadline: number;
        lab?: string;
        /**
         * Also read the outputs from the stack Heat answered CREATE_COMPLETE with (sealing the
         * secret ones, as readOutputs does): the lab needs no second call and no second activity.
         */
        withOutputs?: { secretOutputs?: string[] };
      },
    ): Promise<StackInfo & { outputs?: Record<string, unknown> }> {
      const ctx = Context.current();
      const heat = deps.heat(input.provider);
      const hasLabDocument = LAB_ID_PATTERN.test(input.labId);
      const kind = `create:${input.provider}:${input.lab ?? ''}`;
      const started = Date.now();
      // A retried wait (a worker that died) has no idea how far the create is: it looks at once.
      const firstAttempt = ctx.info.attempt === 1;
      try {
        const stack = await heat.waitForStackStatus(input.stack, ['CREATE_COMPLETE'], {
          deadline: input.deadline,
          signal: ctx.cancellationSignal,
          ...poll(),
          // A create is polled half as often as a resume (once a second by default) until its
          // usual time is known: a 5 s create polled every half second cost ten calls.
          minIntervalMs: 2 * poll().minIntervalMs,
          justAsked: firstAttempt,
          expectedMs: () => (firstAttempt ? durations.expected(kind) : undefined),
          onPoll: () => ctx.heartbeat(),
          onProgress: async (progress) => {
            ctx.heartbeat(progress);
            if (!hasLabDocument) return;
            await deps.store.labs.setProgress(
              input.labId,
              input.generation,
              progress,
              deps.now?.() ?? new Date(),
            );
          },
        });
        if (firstAttempt) durations.record(kind, Date.now() - started);
        if (!input.withOutputs || !input.lab) return stackInfo(stack);
        const outputs = await sealOutputs(
          { ...input, lab: input.lab, ...input.withOutputs },
          stack.outputs ?? {},
        );
        return { ...stackInfo(stack), outputs };
      } catch (err) {
        if (isHeatKind(err, 'timeout') && Date.now() >= input.deadline) {
          throw ApplicationFailure.nonRetryable(
            `stack ${input.stack.name} was not CREATE_COMPLETE within the launch timeout`,
            FailureType.LaunchTimeout,
          );
        }
        throw asActivityFailure(err);
      }
    },

    /**
     * Reads the stack's outputs: secret ones are sealed and stored in Mongo here, and only the
     * non-secret ones return to the workflow (so secrets never enter its history). The secret
     * names come from the workflow's last known policy, else the configuration; for a lab known
     * to neither, every output is secret. Null when Heat no longer has the stack.
     */
    async readOutputs(
      input: StackTarget & { lab: string; generation: number; secretOutputs?: string[] },
    ): Promise<Record<string, unknown> | null> {
      let outputs: Record<string, unknown>;
      try {
        outputs = await deps.heat(input.provider).getOutputs(input.stack);
      } catch (err) {
        if (isHeatKind(err, 'notFound')) return null;
        throw asActivityFailure(err);
      }
      return sealOutputs(input, outputs);
    },

    /**
     * Suspends the stack and waits for SUSPEND_COMPLETE. A stack mid-action is left to settle
     * first (Heat answers a suspend during CREATE_IN_PROGRESS with a stuck SUSPEND_FAILED);
     * SUSPEND_FAILED throws SuspendFailed (retried a few times; when the attempts run out, the
     * lab stays ready and tries again later). Null when Heat says the stack is gone (404 or
     * DELETE_*): there is nothing left to suspend.
     */
    async suspendStack(input: StackTarget & { deadline: number }): Promise<StackInfo | null> {
      const heat = deps.heat(input.provider);
      const existing = await heat
        .findStack(keyOf(input.stack))
        .catch((err) => Promise.reject(asActivityFailure(err)));
      if (isGone(existing)) return null;
      const settled = await settle(input.provider, input.stack, input.deadline);
      if (isGone(settled)) return null;
      if (settled.status === 'SUSPEND_COMPLETE') return stackInfo(settled);
      await heat.suspendStack(input.stack).catch((err) => Promise.reject(asActivityFailure(err)));
      const done = await settle(input.provider, input.stack, input.deadline);
      if (isGone(done)) return null;
      if (done.status !== 'SUSPEND_COMPLETE') {
        throw ApplicationFailure.retryable(
          `suspend of ${done.name} ended ${done.status}: ${done.statusReason}`,
          FailureType.SuspendFailed,
        );
      }
      return stackInfo(done);
    },

    /**
     * Resumes the stack and waits for RESUME_COMPLETE; returns null only when Heat says the
     * stack is gone (404, DELETE_*) or in a state no action can leave (the workflow then
     * recreates it). Every other failure throws: the stack, and the learner's work, are kept.
     */
    async resumeStack(input: StackTarget & { deadline: number }): Promise<StackInfo | null> {
      const heat = deps.heat(input.provider);
      const existing = await heat
        .findStack(keyOf(input.stack))
        .catch((err) => Promise.reject(asActivityFailure(err)));
      if (isGone(existing)) return null;
      const settled = await settle(input.provider, input.stack, input.deadline);
      if (isGone(settled) || UNLEAVABLE.includes(settled.status) || stuckInProgress(settled))
        return null;
      if (!['SUSPEND_COMPLETE', 'SUSPEND_FAILED', 'RESUME_FAILED'].includes(settled.status))
        return stackInfo(settled);
      await heat.resumeStack(input.stack).catch((err) => Promise.reject(asActivityFailure(err)));
      const kind = `resume:${input.provider}`;
      const asked = Date.now();
      const done = await settle(
        input.provider,
        input.stack,
        input.deadline,
        durations.expected(kind),
      );
      if (done?.status === 'RESUME_COMPLETE') durations.record(kind, Date.now() - asked);
      if (isGone(done) || stuckInProgress(done)) return null;
      if (done.status !== 'RESUME_COMPLETE') {
        throw ApplicationFailure.retryable(
          `resume of ${done.name} ended ${done.status}: ${done.statusReason}`,
          FailureType.ResumeFailed,
        );
      }
      return stackInfo(done);
    },

    /**
     * Deletes the stack and waits until Heat reports it gone (404 counts as done). A stack whose
     * create was never confirmed has no id: it is found by its deterministic name. A delete
     * already under way is waited for; a DELETE_FAILED one is asked again (Heat allows it).
     */
    async deleteStack(input: StackTarget & { deadline: number }): Promise<void> {
      const heat = deps.heat(input.provider);
      const ctx = Context.current();
      const existing = await heat.findStack(keyOf(input.stack));
      if (existing === null || existing.status === 'DELETE_COMPLETE') return;
      const ref: StackRef = { id: existing.id, name: existing.name };
      if (existing.status !== 'DELETE_IN_PROGRESS') await heat.deleteStack(ref);
      await heat
        .waitForStackStatus(ref, ['DELETE_COMPLETE'], {
          deadline: input.deadline,
          signal: ctx.cancellationSignal,
          ...poll(),
          onPoll: () => ctx.heartbeat(),
        })
        .catch((err: unknown) => {
          if (isHeatKind(err, 'notFound')) return;
          // DELETE_FAILED: no quick retry fixes it; the workflow asks Heat again after a pause.
          throw asActivityFailure(err);
        });
    },

    async dropSecrets(input: { labId: string }): Promise<void> {
      await deps.store.secrets.remove(input.labId);
    },
  };
}
