export { AppError, assertNever, isAppError, isPermanent } from './app-error.js'
export { ERROR_STATUS, PERMANENT_IMAGE_CODES, type ErrorCode } from './codes.js'
