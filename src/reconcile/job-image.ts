import { parseProcessImageJob } from '../domain/jobs.js'

/** The image a job payload names, whatever its version; null when it names none. */
export function imageIdOfJob(payload: string): string | null {
  const parsed = parseProcessImageJob(payload)
  return parsed.kind === 'accepted' ? parsed.work.imageId : parsed.imageId
}
