/**
 * Dev mode: no secret and no JWKS configured. The server signs its own tokens with a secret kept in the data
 * directory (so tokens survive restarts) and hands them out at `/api/dev/token` for the demo tenant. The config
 * check refuses dev mode on anything but a loopback address.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Access } from '@concord/engine';

export const DEV_TENANT = 'demo';
const DEV_SECRET_FILE = '.dev-secret';
const DEV_TOKEN_LIFETIME_SECONDS = 24 * 3600;

/** Reads the dev secret from `dataDir`, creating it (readable by this user only) the first time. */
export async function loadDevSecret(dataDir: string): Promise<string> {
  const file = join(dataDir, DEV_SECRET_FILE);
  try {
    const secret = (await readFile(file, 'utf8')).trim();
    if (secret.length >= 32) return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32).toString('hex');
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

export interface DevUser {
  id: string;
  name?: string | undefined;
}

/**
 * A token for `user` granting write on every document and channel of the demo tenant, and publishing to every
 * channel (so the demo and the README's curl examples can act as the app backend).
 */
export function issueDevToken(secret: string, user: DevUser): Promise<string> {
  return new SignJWT({ name: user.name ?? user.id, tenant: DEV_TENANT, docs: { '*': Access.Write }, publish: ['*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user.id)
    .setIssuedAt()
    .setExpirationTime(`${DEV_TOKEN_LIFETIME_SECONDS}s`)
    .sign(new TextEncoder().encode(secret));
}
