import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib'

/** One connection and its channels. Once `live` is false it never comes back: a new one replaces it. */
export interface Session {
  connection: ChannelModel
  /** Publishes (with confirms) and queue checks. */
  publisher: ConfirmChannel
  /** The consumer; a delivery can only be acked or nacked on the channel it came on. */
  consumer: Channel
  /** basic.get on the dead queue, so holding dead messages never blocks publishes. */
  admin: Channel
  consumerTag?: string
  /** basic.return count on the publisher (see publishConfirmed). */
  returns: number
  /** Set while the broker blocks publishing (a memory or disk alarm): publishes would only wait. */
  blocked?: string
  live: boolean
}

export interface LinkOptions {
  url: string
  /** Shown by `rabbitmqctl list_connections client_properties` and the management UI. */
  name: string
  /** Declares the topology and starts consuming; a throw closes the session and retries. */
  setup(session: Session): Promise<void>
  /** The session died: its deliveries went back to the broker, so its leases are worthless. */
  onLost(session: Session): void
  /** The live connection dropped (once per outage, not per failed reconnect attempt). */
  onDown?(reason: Error): void
  /** A session is live again after an outage that began `downMs` ago. */
  onUp?(downMs: number): void
  reconnectMaxMs: number
}

export interface Link {
  current(): Session | null
  /** The live session, waiting for a reconnect up to timeoutMs. */
  ready(timeoutMs: number): Promise<Session>
  notConnected(): Error
  /** Gives up a session after a failure its channels did not report (a cancelled consumer). */
  drop(session: Session, reason: Error): void
  close(): Promise<void>
}

/**
 * amqplib does not recover channels by itself (its recovering connection re-dials but leaves
 * channels and consumers to the caller), so the link owns the whole cycle: connect, set up, and on
 * any connection or channel close, drop the session and reconnect with capped exponential backoff
 * and jitter. Any channel error closes the whole connection: simpler than healing one channel,
 * and the broker requeues everything the session held.
 */
export function openLink(options: LinkOptions): Link {
  let session: Session | null = null
  let lastError: Error | null = null
  let closed = false
  let failures = 0
  let retry: NodeJS.Timeout | undefined
  let connecting: Promise<void> = Promise.resolve()
  let downSince: number | null = null
  const waiters = new Set<() => void>()

  function lost(s: Session, reason: Error): void {
    if (!s.live) return
    s.live = false
    lastError = reason
    if (session === s) {
      session = null
      downSince = Date.now()
      if (!closed) options.onDown?.(reason)
    }
    options.onLost(s)
    s.connection.close().catch(() => {})
    if (!closed && retry === undefined) schedule(backoff(++failures, options.reconnectMaxMs))
  }

  async function connectOnce(): Promise<void> {
    const amqp = await import('amqplib')
    const connection = await amqp.connect(withHeartbeat(options.url), {
      clientProperties: { connection_name: options.name },
      timeout: 10_000,
    })
    // Filled in below; the close handlers need the object before the channels exist.
    const s = { connection, returns: 0, live: true } as Session
    connection.on('error', (error: Error) => (lastError = error))
    connection.on('close', (error?: Error) =>
      lost(s, error ?? new Error('[rabbitmq] connection closed')),
    )
    connection.on('blocked', (reason: string) => (s.blocked = reason))
    connection.on('unblocked', () => (s.blocked = undefined))
    try {
      s.publisher = watch(await connection.createConfirmChannel(), s)
      s.consumer = watch(await connection.createChannel(), s)
      s.admin = watch(await connection.createChannel(), s)
      // Returned = routed nowhere: a queue was deleted under us. Reconnecting declares it again.
      s.publisher.on('return', () => {
        s.returns++
        lost(
          s,
          new Error('[rabbitmq] a publish was returned unroutable; declaring the queues again'),
        )
      })
      await options.setup(s)
    } catch (error) {
      lost(s, error instanceof Error ? error : new Error(String(error)))
      throw error
    }
    if (closed || !s.live) return void connection.close().catch(() => {})
    session = s
    failures = 0
    lastError = null
    if (downSince !== null) options.onUp?.(Date.now() - downSince)
    downSince = null
    for (const wake of waiters) wake()
  }

  function watch<C extends Channel>(channel: C, s: Session): C {
    channel.on('error', (error: Error) => (lastError = error))
    channel.on('close', () => lost(s, lastError ?? new Error('[rabbitmq] channel closed')))
    return channel
  }

  function schedule(delayMs: number): void {
    retry = setTimeout(() => {
      retry = undefined
      connecting = connectOnce().catch((error: unknown) => {
        lastError = error instanceof Error ? error : new Error(String(error))
        if (!closed && retry === undefined) schedule(backoff(++failures, options.reconnectMaxMs))
      })
    }, delayMs)
  }

  const notConnected = () =>
    new Error(`[rabbitmq] not connected${lastError ? `: ${lastError.message}` : ''}`)
  schedule(0)

  return {
    current: () => session,
    notConnected,
    drop: lost,
    async ready(timeoutMs) {
      if (session) return session
      if (closed) throw new Error('[rabbitmq] queue closed')
      let wake = () => {}
      const woken = new Promise<void>((resolve) => (wake = resolve))
      waiters.add(wake)
      const timer = setTimeout(wake, timeoutMs)
      await woken.finally(() => {
        clearTimeout(timer)
        waiters.delete(wake)
      })
      if (session) return session
      throw notConnected()
    },
    async close() {
      closed = true
      clearTimeout(retry)
      retry = undefined
      await connecting
      const s = session
      session = null
      for (const wake of waiters) wake()
      if (!s) return
      s.live = false
      await s.connection.close().catch(() => {})
    },
  }
}

function backoff(failures: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, 100 * 2 ** Math.min(failures - 1, 16))
  return Math.round(ceiling * (0.5 + Math.random() / 2))
}

/** A dead TCP peer is noticed after about two heartbeats; amqplib would accept the server's 60 s. */
function withHeartbeat(url: string): string {
  const parsed = new URL(url)
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', '10')
  return parsed.toString()
}
