import http from 'node:http';

/** A keep-alive HTTP client for load generation: no axios overhead on the measured path. */
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export function request(
  url: string,
  options: {
    method?: string;
    token?: string;
    body?: unknown;
    timeoutMs?: number;
    /** More request headers (e.g. `accept: text/csv`). */
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent,
        headers: {
          ...options.headers,
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

export const retried = { rateLimited: 0, unavailable: 0 };

/**
 * Calls `request` again, as a well-behaved client would, after Retry-After while the API
 * answers 429 (launches are rate-limited per token) and after a second on a 503 (overloaded).
 */
export async function requestPatiently(
  url: string,
  options: Parameters<typeof request>[1] = {},
): Promise<Answer> {
  for (;;) {
    const answer = await request(url, options);
    if (answer.status === 429) retried.rateLimited++;
    else if (answer.status === 503) retried.unavailable++;
    else return answer;
    const wait = Number(answer.headers['retry-after'] ?? 1) * 1000;
    await new Promise((r) => setTimeout(r, wait));
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Reads one counter (summed over its labels) from a Prometheus text exposition. */
export function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * A Prometheus histogram's cumulative bucket counts by upper bound, summed over its labels (or
 * over the series whose labels contain `labelFilter`, e.g. `activity_type="resumeStack"`).
 */
export function histogram(text: string, name: string, labelFilter?: string): Map<number, number> {
  const buckets = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return buckets;
}

/**
 * The q-quantile (0..1) of what a histogram recorded between two scrapes, as the upper bound of
 * the bucket it falls in (buckets do not say more), and how many observations there were.
 */
export function histogramQuantile(
  before: Map<number, number>,
  after: Map<number, number>,
  q: number,
): { bound: number; count: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return { bound: NaN, count: 0 };
  for (const bound of bounds) {
    if ((after.get(bound) ?? 0) - (before.get(bound) ?? 0) >= q * total)
      return { bound, count: total };
  }
  return { bound: Infinity, count: total };
}
