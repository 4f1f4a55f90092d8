import { createPublicKey, timingSafeEqual, type JsonWebKey } from 'node:crypto';
import { utils, type ParsedKey } from 'ssh2';

/** An SSH key pair as Nova's KeyPair gives it: OpenSSH formats both, which ssh2's client reads. */
export function generateSshKeyPair(comment: string): { privateKey: string; publicKey: string } {
  // ssh2 1.17 writes about 3 in 1,000 ed25519 private keys that its own parser then refuses
  // ("Malformed OpenSSH private key"; 9 of 3,000 here): a pair is kept only once it parses.
  for (let attempt = 1; ; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    if (!(utils.parseKey(pair.private) instanceof Error) || attempt >= 20)
      return { privateKey: pair.private, publicKey: pair.public };
  }
}

/** A public key in OpenSSH (`ssh-ed25519 AAAA...`) or PEM (SPKI) form; undefined when neither. */
export function parsePublicKey(text: string): ParsedKey | undefined {
  const parsed = parseOne(text.trim());
  if (parsed) return parsed;
  // ssh2 reads no SPKI PEM: rewrite it in OpenSSH form first.
  const openssh = spkiToOpenSsh(text);
  return openssh === undefined ? undefined : parseOne(openssh);
}

/** Constant-time equality of two strings or buffers. */
export function sameBytes(a: Buffer | string, b: Buffer | string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function parseOne(text: string): ParsedKey | undefined {
  const parsed = utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key instanceof Error || key === undefined || key.isPrivateKey() ? undefined : key;
}

const field = (bytes: Buffer): Buffer => {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};
const text = (value: string): Buffer => field(Buffer.from(value));
/** An SSH mpint: big-endian, a leading zero when the high bit is set. */
const mpint = (base64url: string | undefined): Buffer => {
  const bytes = Buffer.from(base64url ?? '', 'base64url');
  return field((bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.alloc(1), bytes]) : bytes);
};
const raw = (base64url: string | undefined): Buffer => Buffer.from(base64url ?? '', 'base64url');

const CURVES: Record<string, string> = {
  'P-256': 'nistp256',
  'P-384': 'nistp384',
  'P-521': 'nistp521',
};

function spkiToOpenSsh(pem: string): string | undefined {
  let jwk: JsonWebKey;
  try {
    jwk = createPublicKey(pem).export({ format: 'jwk' });
  } catch {
    return undefined;
  }
  const curve = CURVES[jwk.crv ?? ''];
  let type: string;
  let blob: Buffer;
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    type = 'ssh-ed25519';
    blob = Buffer.concat([text(type), field(raw(jwk.x))]);
  } else if (jwk.kty === 'RSA') {
    type = 'ssh-rsa';
    blob = Buffer.concat([text(type), mpint(jwk.e), mpint(jwk.n)]);
  } else if (jwk.kty === 'EC' && curve) {
    type = `ecdsa-sha2-${curve}`;
    const point = Buffer.concat([Buffer.from([4]), raw(jwk.x), raw(jwk.y)]);
    blob = Buffer.concat([text(type), text(curve), field(point)]);
  } else {
    return undefined;
  }
  return `${type} ${blob.toString('base64')}`;
}
