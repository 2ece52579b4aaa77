// Parameters for main.bicep, read from the environment: azd sets AZURE_ENV_NAME
// and AZURE_PRINCIPAL_ID itself and passes every `azd env set` value; with
// `az deployment group create` export them in the shell first. Parameters not
// listed here keep main.bicep's defaults (override with --parameters name=value).
using './main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'sre-copilot')
param operatorPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param slackClientId = readEnvironmentVariable('SLACK_CLIENT_ID', '')
param publicBaseUrl = readEnvironmentVariable('SRE_COPILOT_PUBLIC_BASE_URL', '')
param anthropicModel = readEnvironmentVariable('SRE_COPILOT_ANTHROPIC_MODEL', 'claude-sonnet-4-6')
param adminAudience = readEnvironmentVariable('SRE_COPILOT_ADMIN_AUDIENCE', '')
param alertEmails = empty(readEnvironmentVariable('SRE_COPILOT_ALERT_EMAILS', '')) ? [] : split(readEnvironmentVariable('SRE_COPILOT_ALERT_EMAILS', ''), ',')
param existingSecrets = empty(readEnvironmentVariable('SRE_COPILOT_EXISTING_SECRETS', '')) ? [] : split(readEnvironmentVariable('SRE_COPILOT_EXISTING_SECRETS', ''), ',')

// Secrets: written to Key Vault when set. Prefer `az keyvault secret set` and
// SRE_COPILOT_EXISTING_SECRETS, which keeps their values off this machine's
// azd environment file (bicep/README.md, "Secrets").
param slackBotToken = readEnvironmentVariable('SLACK_BOT_TOKEN', '')
param slackSigningSecret = readEnvironmentVariable('SLACK_SIGNING_SECRET', '')
param slackClientSecret = readEnvironmentVariable('SLACK_CLIENT_SECRET', '')
param anthropicApiKey = readEnvironmentVariable('ANTHROPIC_API_KEY', '')
param kubernetesToken = readEnvironmentVariable('SRE_COPILOT_KUBERNETES_TOKEN', '')
