/**
 * Everything a history (or any Temporal API answer) says, as searchable text: payload `data`
 * fields are base64 in the JSON form, so each one is decoded and appended.
 */
export function searchableText(value: unknown): string {
  const parts: string[] = [];
  const walk = (node: unknown, key?: string): void => {
    if (typeof node === 'string') {
      parts.push(node);
      if (key === 'data') parts.push(Buffer.from(node, 'base64').toString('utf8'));
    } else if (node instanceof Uint8Array) {
      parts.push(Buffer.from(node).toString('utf8'));
    } else if (Array.isArray(node)) {
      node.forEach((item) => walk(item));
    } else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) walk(v, k);
    }
  };
  walk(
    JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))),
  );
  return parts.join('\n');
}
