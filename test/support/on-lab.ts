import type { AxiosInstance } from 'axios';
import { connect, runScript } from '../../src/checks/run-script';

export type Connection = {
  host: string;
  port: number;
  username: string;
  secrets: Record<string, string>;
};

/**
 * Runs `command` on a ready `shell` lab as the learner would: over SSH with the credentials the
 * LMS reads from `/connection` (through `api`, a service-token client). Returns its stdout.
 */
export async function onLab(api: AxiosInstance, labId: string, command: string): Promise<string> {
  const { data } = await api.get<Connection>(`/v1/labs/${labId}/connection`);
  const ssh = await connect({
    host: data.host,
    port: data.port,
    username: data.username,
    privateKey: data.secrets.private_key!,
    generation: 1,
    checkHostKey: () => Promise.resolve({ outcome: 'matches' }),
  });
  try {
    return (await runScript(ssh, command, 10_000)).stdout;
  } finally {
    ssh.end();
  }
}
