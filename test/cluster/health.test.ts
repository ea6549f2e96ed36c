/**
 * SPEC §3 Scale-out: with CONCORD_REDIS_URL, `GET /healthz` reports `redis: {healthy, ...}` and says `"status":
 * "degraded"` (still 200) while Redis is unreachable, `ok` again once it is back; `/metrics` has
 * `concord_redis_healthy`. Without CONCORD_REDIS_URL there is no `redis` key. A real `concord serve` on a fresh
 * PostgreSQL schema, and a private redis-server that the test SIGKILLs and restarts on the same port.
 */
import { expect, test } from 'vitest';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { spawnServer } from '../support/serverProcess.js';
import { waitFor } from '../support/wait.js';

interface Health {
  status: string;
  redis?: { healthy: boolean; instance: string; url: string; lastError: string | null; disconnects: number };
}

async function healthz(url: string): Promise<{ httpStatus: number; body: Health }> {
  const response = await fetch(`${url}/healthz`);
  return { httpStatus: response.status, body: (await response.json()) as Health };
}

async function redisHealthyMetric(url: string): Promise<string | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return /^concord_redis_healthy (\d+)$/m.exec(text)?.[1];
}

describePostgres('scale-out health', () => {
  describeRedis('with a private Redis', () => {
    test('/healthz is degraded (still 200) while Redis is killed, ok once it is back on the same port', async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const server = await spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: redis.url });

      const up = await healthz(server.url);
      expect(up.httpStatus).toBe(200);
      expect(up.body.status).toBe('ok');
      expect(up.body.redis).toMatchObject({ healthy: true, disconnects: 0 });
      expect(up.body.redis?.instance).toMatch(/^[0-9a-f]{16}$/);
      expect(await redisHealthyMetric(server.url)).toBe('1');

      await redis.kill();
      const down = await waitFor(async () => {
        const report = await healthz(server.url);
        return report.body.status === 'degraded' ? report : undefined;
      });
      expect(down.httpStatus).toBe(200);
      expect(down.body.redis).toMatchObject({ healthy: false, disconnects: 1 });
      expect(await redisHealthyMetric(server.url)).toBe('0');

      await redis.restart();
      const back = await waitFor(async () => {
        const report = await healthz(server.url);
        return report.body.status === 'ok' ? report : undefined;
      });
      expect(back.body.redis).toMatchObject({ healthy: true, disconnects: 1 });
      expect(await redisHealthyMetric(server.url)).toBe('1');
      const warnings = server.logs.filter((entry) => entry.msg.startsWith('Redis is unreachable'));
      expect(warnings).toHaveLength(1);
    });

    test('a password in the Redis URL never shows in /healthz or the logs', async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const redisUrl = redis.url.replace('redis://', 'redis://:hunter2@');
      const server = await spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl });
      // redis-server has no password set: ioredis warns and goes on, so the bus is healthy with this URL.
      const report = await waitFor(async () => {
        const { body } = await healthz(server.url);
        return body.redis?.healthy ? body : undefined;
      });
      expect(JSON.stringify(report)).not.toContain('hunter2');
      expect(report.redis?.url).toContain(':hidden@');
      expect(JSON.stringify(server.logs)).not.toContain('hunter2');
    });
  });
});

test('without CONCORD_REDIS_URL /healthz has no redis key and /metrics no concord_redis_healthy', async () => {
  const server = await startTestServer();
  const { body } = await healthz(server.url);
  expect(body.status).toBe('ok');
  expect(body).not.toHaveProperty('redis');
  expect(await redisHealthyMetric(server.url)).toBeUndefined();
});
