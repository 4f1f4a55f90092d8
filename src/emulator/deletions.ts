import type { TokenInfo } from './keystone-api';
import { stackStatus, type EmuStack } from './model';

/** Who asked for a stack's deletion. */
export type DeletionActor =
  /** Through the Heat API, with a token of this Keystone user and project. */
  | { via: 'heat'; userId: string; userName: string; projectId: string; projectName: string }
  /** By hand, through the admin endpoint (as an operator deleting it outside the product). */
  | { via: 'admin' };

/** One stack deletion: what was deleted, when, and how it was asked. */
export interface StackDeletion {
  stackId: string;
  stackName: string;
  projectId: string;
  /** When the stack was created: tells apart stacks of one name (a lab's later lives). */
  createdAt: number;
  /** When the delete was asked (the emulator's clock, epoch ms). */
  at: number;
  /** The stack's status when the delete was asked, e.g. SUSPEND_COMPLETE or CREATE_FAILED. */
  statusBefore: string;
  by: DeletionActor;
}

export const heatActor = (token: TokenInfo): DeletionActor => ({
  via: 'heat',
  userId: token.userId,
  userName: token.userName,
  projectId: token.projectId,
  projectName: token.projectName,
});

/**
 * Every deletion the emulator started, oldest first. A DELETE of a stack whose delete is already
 * in progress starts nothing and is not recorded; a rollback is Heat's own and not a deletion.
 */
export class DeletionLog {
  private readonly entries: StackDeletion[] = [];

  record(stack: EmuStack, by: DeletionActor, at = Date.now()): void {
    this.entries.push({
      stackId: stack.id,
      stackName: stack.name,
      projectId: stack.projectId,
      createdAt: stack.creationTime,
      at,
      statusBefore: stackStatus(stack),
      by,
    });
  }

  /** Restores a saved log (a restarted emulator keeps its history). */
  load(saved: StackDeletion[]): void {
    this.entries.push(...saved);
  }

  list(): StackDeletion[] {
    return this.entries.map((e) => ({ ...e, by: { ...e.by } }));
  }

  clear(): void {
    this.entries.length = 0;
  }
}
