import type { Logger } from 'pino'

export interface RabbitQueueOptions {
  /** amqp(s)://user:pass@host:port/vhost; `?heartbeat=` defaults to 10 s. */
  url: string
  /** The job queue's name; `<queue>.dead` and `<queue>.delay.<ms>` are declared beside it. */
  queue: string
  leaseMs: number
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  /**
   * Unacked deliveries per process: leased jobs plus those buffered for the next receive.
   * Processes get prefetchFor(their worker concurrency) (../create-queue.ts): one waiting job per
   * slot, so a slot never waits an ack's round trip through the quorum queue for its next job.
   */
  prefetch?: number
  /**
   * False for a process that only enqueues (an API with its outbox relay): a consumer there would
   * hold `prefetch` jobs it never claims, until the broker's consumer timeout took them back.
   */
  consume?: boolean
  /** Broker-side backstop for crash loops (`x-delivery-limit`): redeliveries within one try. */
  deliveryLimit?: number
  /**
   * The broker closes a channel whose delivery stays unacked past its consumer timeout (default
   * 30 min), redelivering all that channel held, so it must exceed the longest job plus the time a
   * delivery may wait in the buffer. Sent as the `x-consumer-timeout` consumer argument, which
   * RabbitMQ honours from 3.12 (3.11.15); older brokers ignore it and only the global
   * `consumer_timeout` in rabbitmq.conf applies.
   */
  consumerTimeoutMs?: number
  reconnectMaxMs?: number
  /** How long enqueue and the dead-letter calls wait for a (re)connection before failing. */
  connectWaitMs?: number
  publishTimeoutMs?: number
  /** Where losing and regaining the broker is logged. */
  logger?: Logger
  now?: () => number
  /** The jitter source; tests pin it. */
  random?: () => number
}
