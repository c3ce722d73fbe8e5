import { metadataContract } from '../contracts/metadata.contract.js'
import { describeWithPostgres } from '../fixtures/postgres.js'

describeWithPostgres('metadata.postgres.test.ts')('PostgreSQL shards', () => {
  metadataContract('postgres')
})
