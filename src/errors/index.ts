export { AppError, assertNever, isAppError, isPermanent } from './app-error.js'
export { ERROR_STATUS, type ErrorCode, PERMANENT_IMAGE_CODES } from './codes.js'
