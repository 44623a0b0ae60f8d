{{/* What is particular to this chart; the shared templates (charts/_shared) include these. */}}
{{- define "metric-watcher.component" -}}analysis{{- end }}
{{- define "metric-watcher.dependencies" -}}kafka postgres prometheus{{- end }}
{{- define "metric-watcher.podChecksums" -}}{{- end }}
{{- define "metric-watcher.envFrom" -}}{{- end }}
{{- define "metric-watcher.volumes" -}}{{- end }}
{{- define "metric-watcher.volumeMounts" -}}{{- end }}
{{- define "metric-watcher.env" -}}
# The bearer token Alertmanager sends to /v1/alerts/alertmanager.
- name: SLUICE_WATCHER_ALERT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "metric-watcher.secretName" . }}
      key: {{ .Values.secret.alertTokenKey }}
{{- if and .Values.secret.prometheusAuthorizationKey (not .Values.global.sluice.prometheus.existingSecret) }}
- name: SLUICE_PROMETHEUS_AUTHORIZATION
  valueFrom:
    secretKeyRef:
      name: {{ include "metric-watcher.secretName" . }}
      key: {{ .Values.secret.prometheusAuthorizationKey }}
{{- end }}
{{- end }}
