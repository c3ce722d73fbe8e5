/**
 * A job as a broker driver carries it between copies. Brokers cannot edit a message in place, so a
 * retry or a dead letter is a new copy that carries what the old one knew: its id, when it was
 * first enqueued, the deliveries of earlier copies and their errors.
 */
export interface JobRecord {
  id: string
  payload: string
  /** Deliveries of earlier copies (before the last fail or redrive); the current copy's own come on top. */
  attempts: number
  createdAt: number
  errors: string[]
  /** Set when the driver itself dead-lettered the job (SQS; absent when the broker's redrive moved it). */
  deadAt?: number
}
