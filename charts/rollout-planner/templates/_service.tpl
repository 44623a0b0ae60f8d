{{/* What is particular to this chart; the shared templates (charts/_shared) include these. */}}
{{- define "rollout-planner.component" -}}planner{{- end }}
{{- define "rollout-planner.dependencies" -}}kafka postgres redis{{- end }}
{{- define "rollout-planner.podChecksums" -}}{{- end }}
{{- define "rollout-planner.envFrom" -}}{{- end }}
{{- define "rollout-planner.volumes" -}}{{- end }}
{{- define "rollout-planner.volumeMounts" -}}{{- end }}
{{- define "rollout-planner.env" -}}
{{- if and .Values.secret.redisUrlKey (not .Values.global.sluice.redis.existingSecret) }}
# Optional: a Redis URL carrying a password; SLUICE_REDIS_URL of the ConfigMap otherwise.
- name: SLUICE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "rollout-planner.secretName" . }}
      key: {{ .Values.secret.redisUrlKey }}
      optional: true
{{- end }}
{{- end }}
