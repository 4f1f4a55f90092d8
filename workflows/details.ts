import type { LabSnapshot } from './state';

/** The "current details" Temporal UI shows: the lab's state, why, and what the workflow waits for, in words. */
export function describeLab(lab: LabSnapshot, reason: string, waitingFor: string | null): string {
  const lines = [
    `**${lab.state}**: lab \`${lab.lab}\` of learner \`${lab.learnerId}\` in \`${lab.courseId}\``,
  ];
  if (lab.provider)
    lines.push(
      `provider: ${lab.provider}${lab.stack ? `, stack ${lab.stack.name} (${lab.stack.status})` : ''}`,
    );
  if (reason) lines.push(`why: ${reason}`);
  if (lab.error) lines.push(`error: ${lab.error.code}: ${lab.error.message}`);
  if (waitingFor) lines.push(`waiting for: ${waitingFor}`);
  return lines.join('\n\n');
}
