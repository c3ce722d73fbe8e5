import { metadataContract } from '../../test/contracts/metadata.contract.js'

metadataContract('sqlite')
