/**
 * Signed webhooks to the app backend, delivered at least once.
 *
 * Each delivery is a JSON POST signed like Stripe's: `Concord-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" with the webhook secret>`, with `Concord-Webhook-Id` stable across retries so the receiver can drop
 * duplicates. Network errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and jitter (from
 * `baseDelayMs`, doubling, capped, at most `maxAttempts` tries); any other 4xx means the receiver refuses it for good.
 * The queue is bounded: when it is full the oldest delivery is dropped (and logged). On stop, what is queued gets one
 * last try within a bounded time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

export interface RetryPolicy {
  /** First wait after a failed attempt; doubles per attempt (with jitter) up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 5 * 60_000, maxAttempts: 10 };
/** How long one attempt may take. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Deliveries kept waiting at most; more drop the oldest. */
export const MAX_QUEUED_WEBHOOKS = 10_000;
/** How long stop() gives queued deliveries for their last try. */
const DRAIN_TIMEOUT_MS = 5_000;
export const SIGNATURE_HEADER = 'Concord-Signature';
export const WEBHOOK_ID_HEADER = 'Concord-Webhook-Id';

export function signWebhook(secret: string, body: string, timestampSeconds: number): string {
  const digest = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${digest}`;
}

/**
 * Checks a `Concord-Signature` header against the raw body; false when it does not match, is malformed, or is older
 * (or newer) than `toleranceSeconds` (default 5 minutes), which stops replays of a captured request.
 */
export function verifyWebhookSignature(options: {
  secret: string;
  header: string | null | undefined;
  body: string;
  toleranceSeconds?: number;
  nowSeconds?: number;
}): boolean {
  const { secret, header, body, toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000) } = options;
  const parts = new Map((header ?? '').split(',').map((part) => part.trim().split('=', 2) as [string, string]));
  const timestamp = Number(parts.get('t'));
  const given = parts.get('v1');
  if (!Number.isInteger(timestamp) || !given || !/^[0-9a-f]{64}$/.test(given)) return false;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = signWebhook(secret, body, timestamp).split('v1=')[1] as string;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(given, 'hex'));
}

interface Delivery {
  readonly id: string;
  readonly url: string;
  readonly body: string;
  attempts: number;
  dueAt: number;
}

function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class WebhookSender {
  private readonly secret: string;
  private readonly retry: RetryPolicy;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly queue: Delivery[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(options: { secret: string; retry?: Partial<RetryPolicy>; log: Logger; metrics: Metrics }) {
    this.secret = options.secret;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.log = options.log;
    this.metrics = options.metrics;
  }

  /** Queues a delivery of `payload` (JSON) to `url`; it goes out at once. */
  send(url: string, id: string, payload: unknown): void {
    if (this.stopped) return;
    if (this.queue.length >= MAX_QUEUED_WEBHOOKS) {
      const dropped = this.queue.shift();
      this.metrics.webhookDeliveries.inc({ outcome: 'dropped' });
      this.log.error({ id: dropped?.id, url: dropped?.url }, 'webhook queue full: dropped the oldest delivery');
    }
    this.queue.push({ id, url, body: JSON.stringify(payload), attempts: 0, dueAt: Date.now() });
    this.schedule();
  }

  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  /** Gives every queued delivery one last try (bounded), then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const last = this.queue.splice(0).map((delivery) => this.attempt(delivery, true));
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS).unref());
    await Promise.race([Promise.allSettled([...last, ...this.inFlight]), timeout]);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped || this.queue.length === 0) return;
    const next = Math.min(...this.queue.map(({ dueAt }) => dueAt));
    this.timer = setTimeout(() => this.run(), Math.max(0, next - Date.now()));
    this.timer.unref();
  }

  private run(): void {
    const now = Date.now();
    const due = this.queue.filter(({ dueAt }) => dueAt <= now);
    for (const delivery of due) {
      this.queue.splice(this.queue.indexOf(delivery), 1);
      const attempt = this.attempt(delivery, false).finally(() => this.inFlight.delete(attempt));
      this.inFlight.add(attempt);
    }
    this.schedule();
  }

  private async attempt(delivery: Delivery, last: boolean): Promise<void> {
    delivery.attempts += 1;
    const timestamp = Math.floor(Date.now() / 1000);
    let problem: string;
    let again: boolean;
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'concord-webhooks',
          [WEBHOOK_ID_HEADER]: delivery.id,
          [SIGNATURE_HEADER]: signWebhook(this.secret, delivery.body, timestamp),
        },
        body: delivery.body,
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (response.ok) {
        this.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
        this.log.debug({ id: delivery.id, url: delivery.url, attempts: delivery.attempts }, 'webhook delivered');
        return;
      }
      problem = `the receiver answered ${response.status}`;
      again = retryable(response.status);
    } catch (error) {
      problem = (error as Error).message;
      again = true;
    }
    if (!again || last || delivery.attempts >= this.retry.maxAttempts) {
      this.metrics.webhookDeliveries.inc({ outcome: again ? 'gave-up' : 'refused' });
      this.log.error({ id: delivery.id, url: delivery.url, attempts: delivery.attempts, problem }, 'webhook not delivered');
      return;
    }
    this.metrics.webhookDeliveries.inc({ outcome: 'retried' });
    const ceiling = Math.min(this.retry.baseDelayMs * 2 ** (delivery.attempts - 1), this.retry.maxDelayMs);
    delivery.dueAt = Date.now() + ceiling / 2 + Math.random() * (ceiling / 2);
    this.log.warn({ id: delivery.id, url: delivery.url, attempts: delivery.attempts, problem }, 'webhook failed; will retry');
    this.queue.push(delivery);
    this.schedule();
  }
}
