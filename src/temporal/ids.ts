import { createHash } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32 (lowercase alphabet, no padding). */
function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export const LAB_ID_PATTERN = /^lab_[a-z2-7]{26}$/;

/**
 * One lab per (courseId, learnerId, lab): the id is a hash of the three, so every API replica
 * and every retry computes the same one. It is also the lab's Temporal workflow id.
 */
export function labIdFor(courseId: string, learnerId: string, lab: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([courseId, learnerId, lab]))
    .digest();
  return `lab_${base32(digest).slice(0, 26)}`;
}
