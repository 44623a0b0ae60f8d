{{/* What is particular to this chart; the shared templates (charts/_shared) include these. */}}
{{- define "executor.component" -}}executor{{- end }}
{{- define "executor.dependencies" -}}kafka postgres redis{{- end }}
{{- define "executor.podChecksums" -}}{{- end }}
{{- define "executor.envFrom" -}}{{- end }}
{{- define "executor.volumes" -}}{{- end }}
{{- define "executor.volumeMounts" -}}{{- end }}
{{- define "executor.env" -}}
# The sluice-agents' bearer token.
- name: SLUICE_EXECUTOR_AGENT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "executor.secretName" . }}
      key: {{ .Values.secret.agentTokenKey }}
{{- if and .Values.secret.redisUrlKey (not .Values.global.sluice.redis.existingSecret) }}
# Optional: a Redis URL carrying a password; SLUICE_REDIS_URL of the ConfigMap otherwise.
- name: SLUICE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "executor.secretName" . }}
      key: {{ .Values.secret.redisUrlKey }}
      optional: true
{{- end }}
{{- if .Values.secret.s3SecretAccessKeyKey }}
# Optional: the secret of the key that presigns s3:// artifacts (SLUICE_EXECUTOR_S3_*).
- name: SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "executor.secretName" . }}
      key: {{ .Values.secret.s3SecretAccessKeyKey }}
      optional: true
{{- end }}
{{- end }}
