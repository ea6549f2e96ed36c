/**
 * Notices the server sends clients as Hocuspocus stateless messages: JSON objects tagged with `concord`.
 *
 * Stock providers just emit them as `stateless` events; the Concord client turns them into status. A payload that
 * is not a notice (an app's own stateless message) parses as null.
 */
import { z } from 'zod';

export const StorageStatus = {
  /** Writes succeed: acknowledged changes are durable. */
  Ok: 'ok',
  /** Writes fail: changes are applied and shared, but not acknowledged until they can be stored. */
  Degraded: 'degraded',
} as const;
export type StorageStatus = (typeof StorageStatus)[keyof typeof StorageStatus];

const noticeSchema = z.object({ concord: z.literal('storage'), status: z.enum([StorageStatus.Ok, StorageStatus.Degraded]) });

export type ServerNotice = z.output<typeof noticeSchema>;

export function storageNotice(status: StorageStatus): string {
  return JSON.stringify({ concord: 'storage', status } satisfies ServerNotice);
}

export function parseServerNotice(payload: string): ServerNotice | null {
  try {
    const result = noticeSchema.safeParse(JSON.parse(payload));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}
