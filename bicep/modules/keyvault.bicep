// Key Vault (RBAC permission model) for the app's secrets. The app reads them
// through Key Vault references in its settings (functionapp.bicep) with the
// Key Vault Secrets User role (access.bicep). A secret is written here only
// when its value is given at deployment; otherwise set it with
// `az keyvault secret set` (bicep/README.md, "Secrets").

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Key Vault name (3-24 letters, digits, hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Slack bot token (xoxb-...); empty: not written.')
@secure()
param slackBotToken string = ''

@description('Slack signing secret; empty: not written.')
@secure()
param slackSigningSecret string = ''

@description('Slack OAuth client secret; empty: not written.')
@secure()
param slackClientSecret string = ''

@description('Anthropic API key; empty: not written (deterministic detectors only).')
@secure()
param anthropicApiKey string = ''

@description('Kubernetes executor bearer token; empty: not written.')
@secure()
param kubernetesToken string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource slackBotTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(slackBotToken)) {
  parent: vault
  name: 'slack-bot-token'
  properties: {
    value: slackBotToken
    contentType: 'text/plain'
  }
}

resource slackSigningSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(slackSigningSecret)) {
  parent: vault
  name: 'slack-signing-secret'
  properties: {
    value: slackSigningSecret
    contentType: 'text/plain'
  }
}

resource slackClientSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(slackClientSecret)) {
  parent: vault
  name: 'slack-client-secret'
  properties: {
    value: slackClientSecret
    contentType: 'text/plain'
  }
}

resource anthropicApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(anthropicApiKey)) {
  parent: vault
  name: 'anthropic-api-key'
  properties: {
    value: anthropicApiKey
    contentType: 'text/plain'
  }
}

resource kubernetesTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(kubernetesToken)) {
  parent: vault
  name: 'kubernetes-token'
  properties: {
    value: kubernetesToken
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
