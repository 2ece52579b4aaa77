// SRE Copilot on Azure: one resource group holding the Function App (Flex
// Consumption, Python 3.13), its host storage, Cosmos DB, Azure AI Search,
// Key Vault, Log Analytics and Application Insights, alerts and a workbook.
// Deployed by `azd up` (azure.yaml) or `az deployment group create` with
// main.bicepparam; bicep/README.md says what each part is for.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Environment name (azd: AZURE_ENV_NAME); part of every resource name.')
param environmentName string

@description('Azure region of every resource (Flex Consumption must be offered there).')
param location string = resourceGroup().location

@description('Object id of whoever runs the post-deployment steps (azd: AZURE_PRINCIPAL_ID); empty: no operator roles.')
param operatorPrincipalId string = ''

@description('Kind of the operator principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Cosmos DB serverless (nothing billed at rest but storage) or provisioned 400 RU/s.')
param cosmosServerless bool = true

@description('Azure AI Search tier: free (one per subscription), basic or standard.')
@allowed([
  'free'
  'basic'
  'standard'
])
param searchSku string = 'basic'

@description('Instances kept warm for the HTTP functions (0 saves money, costs cold starts).')
@minValue(0)
param httpAlwaysReady int = 1

@description('Memory of each Function App instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the Function App scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Durable Functions task hub (SRE_COPILOT_TASK_HUB; host.json reads it).')
param taskHub string = 'SreCopilotHub'

@description('Claude model (SRE_COPILOT_ANTHROPIC_MODEL).')
param anthropicModel string = 'claude-sonnet-4-6'

@description('Slack app client id, for the OAuth install (SLACK_CLIENT_ID; not a secret).')
param slackClientId string = ''

@description('Where Slack reaches the app; empty: https://<function app>.azurewebsites.net.')
param publicBaseUrl string = ''

@description('What carries out remediation actions: dry_run records them, kubernetes acts.')
@allowed([
  'dry_run'
  'kubernetes'
])
param executor string = 'dry_run'

@description('Kubernetes API server of the executor (SRE_COPILOT_KUBERNETES_API_URL).')
param kubernetesApiUrl string = ''

@description('Namespace of a target named without one (SRE_COPILOT_KUBERNETES_NAMESPACE).')
param kubernetesNamespace string = 'default'

@description('Audience of the tenant admin API (/api/admin/tenants): the client id or App ID URI of its Entra ID app registration; empty: the admin API is off.')
param adminAudience string = ''

@description('E-mail addresses that receive the app\'s own alerts.')
param alertEmails array = []

@description('Average alert-to-message seconds over 15 minutes above which to alert.')
param alertToMessageThresholdSeconds int = 60

@description('Names of Key Vault secrets already set out of band (e.g. slack-bot-token), so the app references them.')
param existingSecrets array = []

@secure()
@description('Slack bot token (xoxb-...); written to Key Vault as slack-bot-token when given.')
param slackBotToken string = ''

@secure()
@description('Slack signing secret; written to Key Vault as slack-signing-secret when given.')
param slackSigningSecret string = ''

@secure()
@description('Slack OAuth client secret; written to Key Vault as slack-client-secret when given.')
param slackClientSecret string = ''

@secure()
@description('Anthropic API key; written to Key Vault as anthropic-api-key when given. Without it the app runs its deterministic detectors only.')
param anthropicApiKey string = ''

@secure()
@description('Bearer token of the Kubernetes executor\'s service account; written to Key Vault as kubernetes-token when given.')
param kubernetesToken string = ''

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  product: 'sre-copilot'
}

var functionAppName = 'func-sre-copilot-${resourceToken}'
var keyVaultName = 'kv-${resourceToken}'
var deploymentContainerName = 'app-package'
var cosmosDatabaseName = 'sre-copilot'
var searchIndexName = 'runbooks'

// A setting names its secret only when the secret exists (given now or set
// before): an unresolved Key Vault reference would reach the app as its own
// text, and the app would take it for a credential.
var kvRef = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName='
var hasSlackBotToken = !empty(slackBotToken) || contains(existingSecrets, 'slack-bot-token')
var hasSlackSigningSecret = !empty(slackSigningSecret) || contains(existingSecrets, 'slack-signing-secret')
var hasSlackClientSecret = !empty(slackClientSecret) || contains(existingSecrets, 'slack-client-secret')
var hasAnthropicApiKey = !empty(anthropicApiKey) || contains(existingSecrets, 'anthropic-api-key')
var hasKubernetesToken = !empty(kubernetesToken) || contains(existingSecrets, 'kubernetes-token')

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-sre-copilot-${resourceToken}'
    appInsightsName: 'appi-sre-copilot-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    name: 'st${resourceToken}'
    deploymentContainerName: deploymentContainerName
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    location: location
    tags: tags
    accountName: 'cosmos-sre-copilot-${resourceToken}'
    databaseName: cosmosDatabaseName
    serverless: cosmosServerless
  }
}

module search 'modules/search.bicep' = {
  name: 'search'
  params: {
    location: location
    tags: tags
    name: 'srch-sre-copilot-${resourceToken}'
    sku: searchSku
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    name: keyVaultName
    slackBotToken: slackBotToken
    slackSigningSecret: slackSigningSecret
    slackClientSecret: slackClientSecret
    anthropicApiKey: anthropicApiKey
    kubernetesToken: kubernetesToken
  }
}

// Every setting the app reads (shared/settings.py) and the host's own; the
// names tests/unit/deploy checks. Left out on purpose, with the reason, in
// bicep/README.md ("Settings").
var appSettings = {
  // The Functions host: storage by identity, telemetry by identity.
  AzureWebJobsStorage__accountName: storage.outputs.name
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  // The worker attaches the host's trace context, so the app's spans nest under it.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  SRE_COPILOT_TASK_HUB: taskHub
  // Store and search: Entra ID, no keys.
  SRE_COPILOT_HOME: '/tmp/sre-copilot'
  SRE_COPILOT_STORE: 'cosmos'
  SRE_COPILOT_COSMOS_ENDPOINT: cosmos.outputs.endpoint
  SRE_COPILOT_COSMOS_DATABASE: cosmos.outputs.databaseName
  SRE_COPILOT_COSMOS_VERIFY_TLS: 'true'
  // The database and containers are created above: no management-plane call at run time.
  SRE_COPILOT_COSMOS_CREATE_IF_MISSING: 'false'
  SRE_COPILOT_SEARCH: 'azure'
  SRE_COPILOT_AZURE_SEARCH_ENDPOINT: search.outputs.endpoint
  SRE_COPILOT_AZURE_SEARCH_INDEX: searchIndexName
  // Ingestion.
  SRE_COPILOT_DEDUP_TTL_HOURS: '72'
  SRE_COPILOT_MAX_BODY_BYTES: '1048576'
  SRE_COPILOT_CHANGE_LOOKBACK_MINUTES: '120'
  SRE_COPILOT_PROMETHEUS_TIMEOUT_SECONDS: '10'
  // Claude.
  ANTHROPIC_API_KEY: hasAnthropicApiKey ? '${kvRef}anthropic-api-key)' : ''
  SRE_COPILOT_ANTHROPIC_MODEL: anthropicModel
  SRE_COPILOT_LLM_DEADLINE_SECONDS: '20'
  // Slack.
  SLACK_BOT_TOKEN: hasSlackBotToken ? '${kvRef}slack-bot-token)' : ''
  SLACK_SIGNING_SECRET: hasSlackSigningSecret ? '${kvRef}slack-signing-secret)' : ''
  SLACK_CLIENT_ID: slackClientId
  SLACK_CLIENT_SECRET: hasSlackClientSecret ? '${kvRef}slack-client-secret)' : ''
  SLACK_API_BASE_URL: 'https://slack.com/api/'
  SRE_COPILOT_SLACK_OAUTH_AUTHORIZE_URL: 'https://slack.com/oauth/v2/authorize'
  SRE_COPILOT_PUBLIC_BASE_URL: empty(publicBaseUrl) ? 'https://${functionAppName}.azurewebsites.net' : publicBaseUrl
  SRE_COPILOT_ECHO_MESSAGES: 'false'
  // Tenant admin API: Entra ID tokens of this directory for adminAudience.
  SRE_COPILOT_ADMIN_ISSUER: empty(adminAudience) ? '' : '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
  SRE_COPILOT_ADMIN_AUDIENCE: adminAudience
  SRE_COPILOT_ADMIN_OPENID_CONFIG_URL: ''
  SRE_COPILOT_ADMIN_JWKS_CACHE_SECONDS: '3600'
  // Remediation executor.
  // On: every tenant's remediation stops, whatever the runtime kill switches say.
  SRE_COPILOT_AUTONOMY_KILL_SWITCH: 'false'
  SRE_COPILOT_EXECUTOR: executor
  SRE_COPILOT_KUBERNETES_API_URL: kubernetesApiUrl
  SRE_COPILOT_KUBERNETES_TOKEN: hasKubernetesToken ? '${kvRef}kubernetes-token)' : ''
  SRE_COPILOT_KUBERNETES_VERIFY_TLS: 'true'
  SRE_COPILOT_KUBERNETES_NAMESPACE: kubernetesNamespace
  SRE_COPILOT_KUBERNETES_TIMEOUT_SECONDS: '10'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    tags: tags
    planName: 'plan-sre-copilot-${resourceToken}'
    name: functionAppName
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    httpAlwaysReady: httpAlwaysReady
    appSettings: appSettings
  }
}

module access 'modules/access.bicep' = {
  name: 'access'
  params: {
    appPrincipalId: functionApp.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    storageAccountName: storage.outputs.name
    searchServiceName: search.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    cosmosAccountName: cosmos.outputs.accountName
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    namePrefix: 'sre-copilot-${resourceToken}'
    appInsightsId: monitoring.outputs.appInsightsId
    alertEmails: alertEmails
    alertToMessageThresholdSeconds: alertToMessageThresholdSeconds
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
  }
}

var baseUrl = 'https://${functionApp.outputs.defaultHostName}'

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = baseUrl
output SLACK_INTERACTIONS_URL string = '${baseUrl}/api/slack/interactions'
output SLACK_COMMANDS_URL string = '${baseUrl}/api/slack/commands'
output SLACK_OAUTH_REDIRECT_URL string = '${baseUrl}/api/slack/oauth/callback'
output ALERTMANAGER_WEBHOOK_URL_TEMPLATE string = '${baseUrl}/api/tenants/{tenant}/webhooks/alertmanager'
output PAGERDUTY_WEBHOOK_URL_TEMPLATE string = '${baseUrl}/api/tenants/{tenant}/webhooks/pagerduty'
output KEY_VAULT_NAME string = keyVault.outputs.name
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output SEARCH_ENDPOINT string = search.outputs.endpoint
output SEARCH_INDEX string = searchIndexName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
