import { describePurger } from '../../../test/contracts/purger.contract.js'
import { createNonePurger } from './none.js'

describePurger('none', { open: async () => createNonePurger() })
