// The product's portal view: an Azure Monitor workbook over Application
// Insights (definition in bicep/workbook.json; queries use the telemetry
// names listed in bicep/README.md).

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Application Insights component the workbook reads.')
param appInsightsId string

@description('Name shown in the portal.')
param displayName string = 'SRE Copilot'

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsightsId, 'sre-copilot-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('../workbook.json')
  }
}

output id string = workbook.id
