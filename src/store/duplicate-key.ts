/** A unique index refused the write (E11000): how the store learns that another writer got there first. */
export function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: unknown } | null | undefined)?.code === 11000;
}

/** For a write whose duplicate means "already done": rethrows every other error. */
export function ignoreDuplicateKey(err: unknown): void {
  if (!isDuplicateKey(err)) throw err;
}
