import { utils } from 'ssh2';
import { generateSshKeyPair } from '../../src/emulator/ssh/keys';

describe("the emulator's SSH key pairs", () => {
  it('are always readable by ssh2 (its generator writes a few malformed ones in a thousand)', () => {
    const unreadable = Array.from({ length: 1000 }, () => generateSshKeyPair('lab')).filter(
      (pair) => utils.parseKey(pair.privateKey) instanceof Error,
    );
    expect(unreadable).toEqual([]);
  });
});
