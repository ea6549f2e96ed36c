/**
 * Document and tenant names.
 *
 * Apps name documents after the entity they hold (`project-42`, `account-123`, `task:7`). On the server every
 * document lives under its tenant as `<tenant>/<name>`, so no token of one tenant can reach another tenant's
 * document of the same name. The rule that keeps this unambiguous: neither names nor tenants contain `/`, so the
 * first `/` of a qualified name always separates the two.
 */
import { ConcordError, ErrorKind } from './codes.js';

export const MAX_DOCUMENT_NAME_LENGTH = 128;
export const MAX_TENANT_LENGTH = 64;
/** The tenant of a token that names none. */
export const DEFAULT_TENANT = 'default';
export const TENANT_SEPARATOR = '/';

const DOCUMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@+=-]*$/;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Why `name` is not a valid document name, or undefined when it is. */
export function documentNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a document name must not be empty';
  if (name.length > MAX_DOCUMENT_NAME_LENGTH) {
    return `a document name must be at most ${MAX_DOCUMENT_NAME_LENGTH} characters (got ${name.length})`;
  }
  if (!DOCUMENT_NAME.test(name)) {
    return `document name ${JSON.stringify(name)} may only contain letters, digits and . _ : @ + = -, starting with a letter or digit`;
  }
  return undefined;
}

/** Why `tenant` is not a valid tenant id, or undefined when it is. */
export function tenantProblem(tenant: string): string | undefined {
  if (tenant.length === 0) return 'a tenant must not be empty';
  if (tenant.length > MAX_TENANT_LENGTH) return `a tenant must be at most ${MAX_TENANT_LENGTH} characters`;
  if (!TENANT.test(tenant)) {
    return `tenant ${JSON.stringify(tenant)} may only contain letters, digits, _ and -, starting with a letter or digit`;
  }
  return undefined;
}

export function assertDocumentName(name: string): void {
  const problem = documentNameProblem(name);
  if (problem) throw new ConcordError(ErrorKind.InvalidDocumentName, problem);
}

export function assertTenant(tenant: string): void {
  const problem = tenantProblem(tenant);
  if (problem) throw new ConcordError(ErrorKind.InvalidTenant, problem);
}

/** `<tenant>/<name>`: the name a document has on the server and in storage. */
export function qualifyDocumentName(tenant: string, name: string): string {
  assertTenant(tenant);
  assertDocumentName(name);
  return `${tenant}${TENANT_SEPARATOR}${name}`;
}

export interface QualifiedName {
  readonly tenant: string;
  readonly name: string;
}

/** Splits `<tenant>/<name>` and validates both parts; throws a ConcordError naming the bad part. */
export function parseQualifiedName(qualified: string): QualifiedName {
  const at = qualified.indexOf(TENANT_SEPARATOR);
  if (at < 0) {
    throw new ConcordError(ErrorKind.InvalidDocumentName, `${JSON.stringify(qualified)} has no tenant part`);
  }
  const tenant = qualified.slice(0, at);
  const name = qualified.slice(at + 1);
  assertTenant(tenant);
  assertDocumentName(name);
  return { tenant, name };
}
