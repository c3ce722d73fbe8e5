/** @pixelflow/client: the typed client for Pixelflow's HTTP API (filled in by issue 14). */
export const CLIENT_VERSION = '0.1.0'
