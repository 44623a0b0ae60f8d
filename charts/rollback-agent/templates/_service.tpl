{{/* What is particular to this chart; the shared templates (charts/_shared) include these. */}}
{{- define "rollback-agent.component" -}}rollback{{- end }}
{{- define "rollback-agent.dependencies" -}}kafka postgres redis prometheus{{- end }}
{{- define "rollback-agent.podChecksums" -}}{{- end }}
{{- define "rollback-agent.envFrom" -}}{{- end }}
{{- define "rollback-agent.volumes" -}}{{- end }}
{{- define "rollback-agent.volumeMounts" -}}{{- end }}
{{- define "rollback-agent.env" -}}
{{- if and .Values.secret.prometheusAuthorizationKey (not .Values.global.sluice.prometheus.existingSecret) }}
# Optional: the Authorization header value for Prometheus ("Bearer ...").
- name: SLUICE_PROMETHEUS_AUTHORIZATION
  valueFrom:
    secretKeyRef:
      name: {{ include "rollback-agent.secretName" . }}
      key: {{ .Values.secret.prometheusAuthorizationKey }}
      optional: true
{{- end }}
{{- if and .Values.secret.redisUrlKey (not .Values.global.sluice.redis.existingSecret) }}
# Optional: a Redis URL carrying a password; SLUICE_REDIS_URL of the ConfigMap otherwise.
- name: SLUICE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "rollback-agent.secretName" . }}
      key: {{ .Values.secret.redisUrlKey }}
      optional: true
{{- end }}
{{- end }}
