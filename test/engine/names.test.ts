/**
 * Document and tenant names: what is valid, the clear errors for what is not, and qualification.
 */
import { ConcordError, ErrorKind, parseQualifiedName, qualifyDocumentName, documentNameProblem, tenantProblem } from '@concord/engine';
import { describe, expect, test } from 'vitest';

describe('document names', () => {
  test.each(['account-123', 'task-{id}'.replace('{id}', '9'), 'account-group-7', 'task:7', 'a', 'Project_2.notes', 'user@example.com'])(
    '%s is valid',
    (name) => expect(documentNameProblem(name)).toBeUndefined(),
  );

  test.each([
    ['', 'must not be empty'],
    ['a/b', 'may only contain'],
    ['-leading', 'starting with a letter or digit'],
    ['with space', 'may only contain'],
    ['x'.repeat(129), 'at most 128 characters'],
    ['tab\there', 'may only contain'],
  ])('%j is invalid: %s', (name, message) => expect(documentNameProblem(name)).toContain(message));
});

describe('tenants', () => {
  test('valid and invalid tenants', () => {
    expect(tenantProblem('acme')).toBeUndefined();
    expect(tenantProblem('acme-eu_2')).toBeUndefined();
    expect(tenantProblem('a/b')).toContain('may only contain');
    expect(tenantProblem('')).toContain('must not be empty');
  });
});

describe('qualified names', () => {
  test('round trip', () => {
    expect(qualifyDocumentName('acme', 'project-1')).toBe('acme/project-1');
    expect(parseQualifiedName('acme/project-1')).toEqual({ tenant: 'acme', name: 'project-1' });
  });

  test('bad parts throw ConcordError naming the problem', () => {
    expect(() => qualifyDocumentName('acme', 'a/b')).toThrow(ConcordError);
    expect(() => parseQualifiedName('acme/a/b')).toThrow(/may only contain/);
    expect(() => parseQualifiedName('no-tenant')).toThrow(/no tenant part/);
    expect(() => parseQualifiedName('bad tenant/doc')).toThrow(expect.objectContaining({ kind: ErrorKind.InvalidTenant }));
  });
});
