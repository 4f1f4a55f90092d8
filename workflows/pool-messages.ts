/**
 * Messages and shared types of the pool workflow (one per lab with a `pool`), imported by the
 * API and activities without importing workflow code.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { StackInfo } from './state';

export const POOL_WORKFLOW_TYPE = 'poolWorkflow';

/** One pool workflow per lab name and task queue (tests run many deployments in one namespace). */
export function poolWorkflowId(lab: string, taskQueue: string): string {
  return `pool:${taskQueue}:${lab}`;
}

/** Heat stack names of pool stacks: deterministic per slot and generation, so a retried create adopts. */
export function poolStackNameFor(lab: string, slot: number, generation: number): string {
  return `pool-${lab}-s${slot}-g${generation}`;
}

/** A stack of the pool, building or ready (suspended, waiting for a learner). */
export interface PoolSlot {
  slot: number;
  generation: number;
  stackName: string;
  phase: 'building' | 'ready' | 'draining';
  provider: string | null;
  stack: StackInfo | null;
  buildStartedAt: number;
  readyAt: number | null;
}

export interface PoolWorkflowInput {
  version: 1;
  lab: string;
  /** Present after continue-as-new. */
  carried?: { slots: PoolSlot[]; generations: number[] };
}

/** What the pool reads from the current configuration at every wake. */
export interface PoolPlan {
  target: number;
  /**
   * How long until the schedule next changes the target, or null: a duration measured by the
   * activity's clock, so the workflow's timer does not depend on the two clocks agreeing.
   */
  nextChangeInMs: number | null;
  providers: string[];
  /** Learners wait in a capacity queue of one of the pool's providers: the pool gives way. */
  learnersQueued: boolean;
  launchTimeout: number;
  checkEvery: number;
}

/** A pool stack as written to the `pool_stacks` collection. */
export interface PoolStackRecord {
  lab: string;
  stackName: string;
  slot: number;
  generation: number;
  provider: string | null;
  stack: StackInfo | null;
  state: 'building' | 'ready' | 'claimed' | 'discarded';
  buildStartedAt: number;
  readyAt: number | null;
}

export interface PoolStatus {
  lab: string;
  target: number;
  ready: number;
  building: number;
  deficit: number;
}

/** Sent by a claim: a stack left the pool, refill now rather than at the next check. */
export const poolClaimedSignal = defineSignal<[{ version: 1 }]>('poolStackClaimed');
export const poolStatusQuery = defineQuery<PoolStatus>('poolStatus');
