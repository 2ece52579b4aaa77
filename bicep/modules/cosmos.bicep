// Cosmos DB (NoSQL API, serverless): the product's document store.
// The database and every container are created here, because the app's
// identity holds a data-plane role only and may not create them itself.
// Containers match shared/ports/store.py (Container) and the Cosmos adapter
// (shared/adapters/store/cosmos.py): partition key /tenantId and TTL on with
// no default expiry (defaultTtl -1), so each document's own `ttl` applies.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Cosmos DB account name (3-44 lower-case letters, digits, hyphens).')
@minLength(3)
@maxLength(44)
param accountName string

@description('Database name (SRE_COPILOT_COSMOS_DATABASE).')
param databaseName string

@description('Serverless (pay per request, nothing at rest but storage) or provisioned throughput.')
param serverless bool = true

@description('Throughput of the database when not serverless (shared by its containers).')
@minValue(400)
param provisionedThroughput int = 400

// One entry per shared.ports.store.Container value.
var containerNames = [
  'tenants'
  'raw_events'
  'dedup'
  'alerts'
  'incidents'
  'incident_alerts'
  'changes'
  'history'
  'orchestrations'
  'messages'
  'feedback'
  'audit'
  'cache'
  'work'
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : {
      throughput: provisionedThroughput
    }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for container in containerNames: {
  parent: database
  name: container
  properties: {
    resource: {
      id: container
      partitionKey: {
        paths: [
          '/tenantId'
        ]
        kind: 'Hash'
      }
      defaultTtl: -1
    }
  }
}]

output accountName string = account.name
output id string = account.id
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
