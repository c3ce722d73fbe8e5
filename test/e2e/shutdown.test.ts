import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'

/** app.close() on a listening server, with connections in the states clients leave them. */
describe('shutdown with open connections', () => {
  let h: Harness | undefined
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    await h?.close()
    h = undefined
  })

  async function open(port: number): Promise<Socket> {
    const socket = connect(port, '127.0.0.1')
    sockets.push(socket)
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    return socket
  }

  it('does not wait for a connection that never sent a request (it is closed at once)', async () => {
    h = await startHarness()
    await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = h.pf.app.server.address() as { port: number }
    // Opened ahead of need, as load balancers and undici do; Node's closeIdleConnections skips it.
    const unused = await open(port)
    const closed = new Promise((resolve) => unused.once('close', resolve))
    const started = Date.now()
    await h.close()
    h = undefined
    expect(Date.now() - started).toBeLessThan(5_000)
    await closed
  })
})
