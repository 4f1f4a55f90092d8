import type { LabSnapshot, LabState } from './state';

/** Each state in words, for support staff who do not know the lifecycle by heart. */
const STATE_MEANING: Record<LabState, string> = {
  queued: 'waiting for capacity on a provider',
  launching: 'building its stack in Heat',
  ready: 'up, for the learner to use',
  suspending: 'being suspended in Heat',
  suspended: 'suspended (the learner resumes it by coming back)',
  resuming: 'being resumed in Heat',
  resetting: 'being rebuilt on a fresh stack',
  deleting: 'its stack is being deleted',
  deleted: 'deleted; the workflow has ended',
  failed: 'failed; it waits for support staff',
};

/**
 * The "current details" Temporal UI shows: the lab's state, why, and what the workflow waits
 * for, in words. Only non-secret fields (DESIGN: no secret reaches Temporal UI). Changing this
 * text is safe for replay: current details are metadata, not workflow commands.
 */
export function describeLab(lab: LabSnapshot, reason: string, waitingFor: string | null): string {
  const lines = [
    `**${lab.state}**: lab \`${lab.lab}\` of learner \`${lab.learnerId}\` in \`${lab.courseId}\` is ${STATE_MEANING[lab.state]}`,
  ];
  if (lab.provider)
    lines.push(
      `provider: ${lab.provider}${lab.stack ? `, stack ${lab.stack.name} (${lab.stack.status})` : ''}`,
    );
  if (reason) lines.push(`why: ${reason}`);
  if (lab.statusReason) lines.push(`status: ${lab.statusReason}`);
  if (lab.error) lines.push(`error: ${lab.error.code}: ${lab.error.message}`);
  if (waitingFor) lines.push(`waiting for: ${waitingFor}`);
  if (lab.state === 'failed')
    lines.push(
      `to fix: \`labctl show ${lab.labId}\`, remove the cause, then \`labctl retry ${lab.labId} --wait\``,
    );
  return lines.join('\n\n');
}
