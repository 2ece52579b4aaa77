// Alerts on the app's own failures, as log search alerts over Application
// Insights: failed incident orchestrations (the Durable extension's tracking
// events), HTTP 5xx answers, and the alert-to-message time the product
// reports as a custom metric (names in bicep/README.md, "Telemetry").

@description('Azure region of the alert rules.')
param location string

@description('Tags for every resource.')
param tags object

@description('Prefix of the rule names.')
param namePrefix string

@description('Application Insights component the rules query.')
param appInsightsId string

@description('E-mail addresses that receive the alerts; empty: the action group has no receivers yet.')
param alertEmails array = []

@description('Average alert-to-message seconds over 15 minutes above which to alert.')
@minValue(1)
param alertToMessageThresholdSeconds int = 60

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-oncall'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'srecopilot'
    enabled: true
    emailReceivers: [for (email, i) in alertEmails: {
      name: 'email-${i}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
  }
}

resource failedOrchestrations 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-failed-orchestrations'
  location: location
  tags: tags
  properties: {
    displayName: 'SRE Copilot: incident orchestrations failed'
    description: 'An orchestration ended Failed: its incident stopped being analysed or updated. Find the instance id in the trace and the exception in the same operation.'
    severity: 1
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where customDimensions["Category"] startswith "Host.Triggers.DurableTask" | where customDimensions["prop__functionType"] == "Orchestrator" and customDimensions["prop__state"] == "Failed"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource serverErrors 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-http-5xx'
  location: location
  tags: tags
  properties: {
    displayName: 'SRE Copilot: HTTP 5xx answers'
    description: 'Webhook or Slack requests answered with a server error: senders retry, but alerts or clicks may be late or lost.'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'requests | where toint(resultCode) >= 500'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource slowMessages 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-alert-to-message'
  location: location
  tags: tags
  properties: {
    displayName: 'SRE Copilot: alert-to-message time too long'
    description: 'The average time from an alert arriving to its incident message being posted in Slack exceeded the threshold.'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "sre_copilot.alert_to_message.seconds" | summarize seconds = sum(valueSum) / sum(valueCount)'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'seconds'
          operator: 'GreaterThan'
          threshold: alertToMessageThresholdSeconds
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
