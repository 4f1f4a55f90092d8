import type { ChildServer } from '../../src/local/child';

export default async function globalTeardown(): Promise<void> {
  const servers = (globalThis as { __labsServers?: ChildServer[] }).__labsServers ?? [];
  await Promise.all(servers.map((s) => s.stop()));
}
