// Azure AI Search: the runbook index (definition in bicep/search-index.json,
// created after deployment through the data plane; see bicep/README.md).
// API keys are refused: callers use Entra ID and the roles in access.bicep.

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Search service name (2-60 lower-case letters, digits, hyphens).')
@minLength(2)
@maxLength(60)
param name string

@description('free (one per subscription, no SLA), basic or standard.')
@allowed([
  'free'
  'basic'
  'standard'
])
param sku string = 'basic'

resource search 'Microsoft.Search/searchServices@2024-06-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    replicaCount: 1
    partitionCount: 1
    hostingMode: 'default'
    publicNetworkAccess: 'enabled'
    disableLocalAuth: true
    semanticSearch: 'disabled'
  }
}

output name string = search.name
output id string = search.id
output endpoint string = 'https://${search.name}.search.windows.net'
