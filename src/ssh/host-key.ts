import { createHash } from 'node:crypto';
import type { HostKeyCheck } from '../store';

/** OpenSSH's fingerprint of a host key blob: `SHA256:` and unpadded base64. */
export const hostKeyFingerprint = (key: Buffer): string =>
  `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;

/**
 * ssh2's `hostVerifier` for a lab's stack, trust on first use: `check` records or compares the
 * key's fingerprint (HostKeysStore, per lab and stack generation). A changed key, or one that
 * cannot be checked now, is refused; `refused` says why (ssh2's own error says only that the
 * handshake failed) and whether the key changed (no retry helps then). The browser terminal and the graded checks connect through this alike.
 */
export function pinnedHostVerifier(
  generation: number,
  check: (fingerprint: string) => Promise<HostKeyCheck>,
  refused: (reason: string, changed: boolean) => void,
): (key: Buffer, verify: (valid: boolean) => void) => void {
  return (key, verify) => {
    check(hostKeyFingerprint(key)).then(
      (answer) => {
        if (answer.outcome === 'changed')
          refused(`the lab's SSH host key changed (generation ${generation})`, true);
        verify(answer.outcome !== 'changed');
      },
      () => {
        refused("the lab's SSH host key cannot be checked now", false);
        verify(false);
      },
    );
  };
}

/** ssh2's error, without anything but its message (which names no credential). */
export function sshProblem(err: Error & { level?: string }): string {
  return err.level === 'client-authentication' ? 'the lab refused the credentials' : err.message;
}
