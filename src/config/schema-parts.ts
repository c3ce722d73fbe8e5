import { Type } from '@sinclair/typebox'

/** An integer setting with its lower bound and default: the shape most settings have. */
export const Int = (min: number, def: number) => Type.Integer({ minimum: min, default: def })
