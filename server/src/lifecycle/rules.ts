/**
 * Lifecycle configuration: which field changes publish events or notify users, and where webhooks go. It comes from
 * a JSON file (`CONCORD_HOOKS_FILE`) and/or the Node option `lifecycle`, validated at start with a message that
 * names the file and the bad entry.
 *
 *   {
 *     "events": [
 *       { "documents": "project-*", "root": "tasks", "field": "status", "event": "task-status-changed" },
 *       { "documents": "account-*", "field": "balance", "event": "balance-changed", "channel": "{document}" },
 *       { "documents": "project-*", "root": "tasks", "field": "assignee",
 *         "notify": { "user": "{value}", "kind": "assignment", "title": "{by} assigned you a task in {document}" } }
 *     ],
 *     "webhooks": [{ "url": "https://backend.example.com/concord", "documents": "account-*" }]
 *   }
 *
 * Templates (`channel`, `notify.user`, `notify.title`) take `{document}`, `{record}`, `{field}`, `{value}` and `{by}`.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../config.js';

const template = z.string().min(1).max(300);

export const fieldHookSchema = z
  .object({
    /** Document-name glob (tenant-local), as in token grants. */
    documents: z.string().min(1),
    /** The root map: `fields` (the document's own fields) or a collection of records. */
    root: z.string().min(1).default('fields'),
    field: z.string().min(1),
    /** Event published to `channel` when the field changes. */
    event: z.string().min(1).optional(),
    /** @default "{document}" */
    channel: template.default('{document}'),
    /** A notification for a user (e.g. the new assignee: `"user": "{value}"`). */
    notify: z
      .object({ user: template, kind: z.string().min(1).max(40).default('custom'), title: template })
      .strict()
      .optional(),
  })
  .strict()
  .refine((rule) => rule.event !== undefined || rule.notify !== undefined, { message: 'give "event", "notify" or both' });

export const webhookTargetSchema = z
  .object({
    url: z.string().refine((value) => /^https?:\/\//.test(value) && URL.canParse(value), 'must be an http(s) URL'),
    /** @default "*" */
    documents: z.string().min(1).default('*'),
  })
  .strict();

export const lifecycleSchema = z
  .object({
    events: z.array(fieldHookSchema).default([]),
    webhooks: z.array(webhookTargetSchema).default([]),
  })
  .strict();

export type FieldHookRule = z.output<typeof fieldHookSchema>;
export type WebhookTarget = z.output<typeof webhookTargetSchema>;
export type LifecycleConfig = z.output<typeof lifecycleSchema>;
export type LifecycleInput = z.input<typeof lifecycleSchema>;

/** A bad hooks file or `lifecycle` option: a configuration error (`concord serve` exits with status 2). */
export class LifecycleConfigError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'LifecycleConfigError';
  }
}

function describeIssues(source: string, error: z.ZodError): string {
  const problems = error.issues.map((issue) => `  - ${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`);
  return `Invalid lifecycle configuration in ${source}:\n${problems.join('\n')}`;
}

export function parseLifecycle(input: unknown, source: string): LifecycleConfig {
  const result = lifecycleSchema.safeParse(input ?? {});
  if (!result.success) throw new LifecycleConfigError(describeIssues(source, result.error));
  return result.data;
}

/** Reads and validates `file`; throws LifecycleConfigError naming the file and what is wrong. */
export async function loadLifecycleFile(file: string): Promise<LifecycleConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new LifecycleConfigError(`cannot read the hooks file ${file} (CONCORD_HOOKS_FILE): ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LifecycleConfigError(`the hooks file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parseLifecycle(json, file);
}

/** Fills `{name}` placeholders; values that are not strings or numbers become empty. */
export function fill(text: string, values: Readonly<Record<string, unknown>>): string {
  return text.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
  });
}
