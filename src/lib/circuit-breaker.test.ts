import { describe, expect, it } from 'vitest'
import { CircuitOpen, createCircuitBreaker } from './circuit-breaker.js'

const ok = () => Promise.resolve('ok')
const boom = () => Promise.reject(new Error('boom'))

describe('circuit breaker', () => {
  function setup() {
    let t = 0
    const states: string[] = []
    const breaker = createCircuitBreaker({
      failureThreshold: 3,
      coolDownMs: 1_000,
      now: () => t,
      onStateChange: (s) => states.push(s),
    })
    return { breaker, states, advance: (ms: number) => (t += ms) }
  }

  it('opens after N consecutive failures only; a success in between resets the count', async () => {
    const { breaker } = setup()
    await expect(breaker.run(boom)).rejects.toThrow('boom')
    await expect(breaker.run(boom)).rejects.toThrow('boom')
    expect(await breaker.run(ok)).toBe('ok')
    await expect(breaker.run(boom)).rejects.toThrow('boom')
    await expect(breaker.run(boom)).rejects.toThrow('boom')
    expect(breaker.state).toBe('closed')
    await expect(breaker.run(boom)).rejects.toThrow('boom')
    expect(breaker.state).toBe('open')
  })

  it('while open, fails at once without calling; after the cool-down one probe decides', async () => {
    const { breaker, states, advance } = setup()
    for (let i = 0; i < 3; i++) await breaker.run(boom).catch(() => {})
    let called = 0
    const counted = () => {
      called++
      return ok()
    }
    await expect(breaker.run(counted)).rejects.toBeInstanceOf(CircuitOpen)
    advance(999)
    await expect(breaker.run(counted)).rejects.toBeInstanceOf(CircuitOpen)
    expect(called).toBe(0)
    advance(1)
    expect(breaker.state).toBe('half-open')
    // One probe at a time: a call during the probe still fails fast.
    let finish: (v: string) => void = () => {}
    const probe = breaker.run(() => new Promise<string>((r) => (finish = r)))
    await expect(breaker.run(counted)).rejects.toBeInstanceOf(CircuitOpen)
    finish('ok')
    expect(await probe).toBe('ok')
    expect(breaker.state).toBe('closed')
    expect(await breaker.run(counted)).toBe('ok')
    expect(states).toEqual(['open', 'half-open', 'closed'])
  })

  it('a failed probe opens it again for a whole cool-down', async () => {
    const { breaker, advance } = setup()
    for (let i = 0; i < 3; i++) await breaker.run(boom).catch(() => {})
    advance(1_000)
    await expect(breaker.run(boom)).rejects.toThrow('boom')
    expect(breaker.state).toBe('open')
    advance(999)
    await expect(breaker.run(ok)).rejects.toBeInstanceOf(CircuitOpen)
    advance(1)
    expect(await breaker.run(ok)).toBe('ok')
  })
})
