import type { Filter } from 'mongodb';
import type { z } from 'zod';
import type { LabDocument } from '../../store';
import { badRequest } from '../errors';
import type { ApiServices } from '../services';
import type { listLabsQuery } from './schema';
import { viewsOfDocuments } from './views';
import type { LabView } from './schema';

interface Cursor {
  createdAt: number;
  id: string;
}

/** Opaque to clients: the sort key of the last lab of a page, base64url JSON. */
export const encodeCursor = (c: Cursor): string =>
  Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');

function decodeCursor(value: string): Cursor {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      Number.isSafeInteger(parsed[0]) &&
      typeof parsed[1] === 'string'
    )
      return { createdAt: parsed[0] as number, id: parsed[1] };
  } catch {
    // fall through to the 400
  }
  throw badRequest('invalid query field "cursor": not a nextCursor of this API', {
    field: 'cursor',
    in: 'query',
  });
}

/**
 * Newest first by (createdAt desc, _id desc): _id breaks ties between labs created in the same
 * millisecond, so pages neither skip nor repeat labs while new ones are created. Each filter
 * has an index that ends in the same sort (see LabsStore.ensureIndexes).
 */
export async function listLabs(
  api: ApiServices,
  query: z.output<typeof listLabsQuery>,
): Promise<{ labs: LabView[]; nextCursor: string | null }> {
  const filter: Filter<LabDocument> = {};
  if (query.courseId !== undefined) filter.courseId = query.courseId;
  if (query.learnerId !== undefined) filter.learnerId = query.learnerId;
  if (query.lab !== undefined) filter.lab = query.lab;
  if (query.state !== undefined) filter.state = query.state;
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor);
    const at = new Date(after.createdAt);
    filter.$or = [{ createdAt: { $lt: at } }, { createdAt: at, _id: { $lt: after.id } }];
  }
  const docs = await api.deps.mongo('list labs', (deadline) =>
    api.ctx.store.labs.newestFirst(filter, query.limit + 1, deadline),
  );
  const page = docs.slice(0, query.limit);
  const last = page[page.length - 1];
  const nextCursor =
    docs.length > query.limit && last
      ? encodeCursor({ createdAt: last.createdAt.getTime(), id: last._id })
      : null;
  return { labs: await viewsOfDocuments(api, page), nextCursor };
}
