/**
 * Token claims: the contract between the app backend that mints JWTs and the server that checks them (SPEC §3).
 *
 * `sub` is the user, `tenant` scopes every document name, `docs` maps document-name globs to "write" or "read".
 * `publish` lists the channel globs a backend's token may publish events to. A token that grants nothing opens nothing.
 */
import { z } from 'zod';
import { DEFAULT_TENANT, tenantProblem } from './names.js';

export const Access = {
  Read: 'read',
  Write: 'write',
} as const;
export type Access = (typeof Access)[keyof typeof Access];

export const tokenClaimsSchema = z.object({
  sub: z.string().min(1, 'sub (the user id) is required'),
  name: z.string().max(200).optional(),
  tenant: z
    .string()
    .default(DEFAULT_TENANT)
    .superRefine((tenant, ctx) => {
      const problem = tenantProblem(tenant);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  docs: z.record(z.string().min(1), z.enum([Access.Read, Access.Write])).default({}),
  /** Channel-name globs this token may publish events to over the HTTP API (an app backend's token). */
  publish: z.array(z.string().min(1)).max(100).default([]),
  /** Expiry, seconds since the epoch: honoured at connect and on open connections (server auth/Sessions.ts). */
  exp: z.number().optional(),
  /** Issue time, seconds since the epoch: revocations refuse tokens issued before them. */
  iat: z.number().optional(),
});

export type TokenClaims = z.output<typeof tokenClaimsSchema>;
