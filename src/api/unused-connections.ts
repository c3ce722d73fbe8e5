import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'

/**
 * Closes, on shutdown, the connections that have not sent a request yet. Node's
 * `closeIdleConnections()` (which Fastify calls on close) passes them over, so such a socket held
 * `app.close()` up until the idle timeout (30 s): HTTP clients and load balancers open them ahead
 * of need (undici opens one right after a streamed response is abandoned). Connections between
 * two keep-alive requests are Node's to close; those with a request in flight finish it.
 */
export function closeUnusedConnectionsOnShutdown(app: FastifyInstance): void {
  const unused = new Set<Socket>()
  let closing = false
  app.server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy()
      return
    }
    unused.add(socket)
    socket.once('close', () => unused.delete(socket))
  })
  app.server.on('request', (request: { socket: Socket }) => unused.delete(request.socket))
  app.addHook('preClose', async () => {
    closing = true
    for (const socket of unused) socket.destroy()
    unused.clear()
  })
}
