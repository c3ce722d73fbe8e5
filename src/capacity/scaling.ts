/**
 * The worker scaling rule, once: what KEDA (through the HPA) and AWS target tracking do with the
 * backlog per worker, as a pure function, so the simulation in bench/capacity replays exactly it.
 *
 *   desired = ceil(current × metric / target), clamped to [min, max]
 *
 * where metric = jobs waiting ÷ running worker slots (docs/deploy.md) and current = the running
 * workers that metric divides by. Scaling up is immediate; scaling down goes only as far as the
 * highest recommendation of the last `scaleDownCooldownSeconds` (the HPA's scale-down
 * stabilisation window, which KEDA sets through `advanced.horizontalPodAutoscalerConfig`; AWS
 * calls its counterpart the scale-in cooldown).
 */

export interface ScalingPolicy {
  /** Jobs waiting per running worker slot to aim for. */
  targetBacklogPerWorker: number
  minReplicas: number
  maxReplicas: number
  scaleDownCooldownSeconds: number
  /** |metric / target − 1| within this keeps the count (the HPA's default is 0.1). */
  tolerance: number
}

export interface ScalingObservation {
  atSeconds: number
  /** Running workers (those whose slots the metric divides by). */
  current: number
  backlogPerWorker: number
}

export interface ScalingState {
  /** What the scaler last asked for (the Deployment's replicas, the service's desired count). */
  desired: number
  /** Recommendations inside the cooldown window, oldest first. */
  recent: readonly { atSeconds: number; replicas: number }[]
}

/** Jobs waiting ÷ running worker slots; with none running, any wait is infinitely behind. */
export function backlogPerWorker(waiting: number, runningSlots: number): number {
  if (runningSlots > 0) return waiting / runningSlots
  return waiting > 0 ? Number.POSITIVE_INFINITY : 0
}

/** The recommendation before any cooldown: target tracking's proportional rule, clamped. */
export function recommendedReplicas(policy: ScalingPolicy, obs: ScalingObservation): number {
  const { current, backlogPerWorker: metric } = obs
  // Nothing running: start one when work waits (KEDA's activation), else stay at the floor.
  if (current === 0) return clamp(policy, metric > 0 ? 1 : 0)
  const ratio = metric / policy.targetBacklogPerWorker
  if (Math.abs(ratio - 1) <= policy.tolerance) return clamp(policy, current)
  return clamp(policy, Math.ceil(current * ratio - 1e-9))
}

/** One scaling decision: the new desired count and the state to pass to the next decision. */
export function decideReplicas(
  policy: ScalingPolicy,
  state: ScalingState,
  obs: ScalingObservation,
): { desired: number; state: ScalingState } {
  const replicas = recommendedReplicas(policy, obs)
  const since = obs.atSeconds - policy.scaleDownCooldownSeconds
  const recent = [
    ...state.recent.filter((r) => r.atSeconds > since),
    { atSeconds: obs.atSeconds, replicas },
  ]
  const highest = Math.max(...recent.map((r) => r.replicas))
  const desired = replicas >= state.desired ? replicas : Math.min(state.desired, highest)
  return { desired, state: { desired, recent } }
}

/** A scaler that has been asking for `replicas` (it holds them for a cooldown from `atSeconds`). */
export function initialScalingState(replicas: number, atSeconds = 0): ScalingState {
  return { desired: replicas, recent: [{ atSeconds, replicas }] }
}

function clamp(policy: ScalingPolicy, replicas: number): number {
  return Math.min(policy.maxReplicas, Math.max(policy.minReplicas, replicas))
}
