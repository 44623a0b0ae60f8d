{{/* What is particular to this chart; the shared templates (charts/_shared) include these. */}}
{{- define "release-intake.component" -}}api{{- end }}
{{- define "release-intake.dependencies" -}}kafka postgres{{- end }}
{{- define "release-intake.podChecksums" -}}{{- end }}
{{- define "release-intake.envFrom" -}}{{- end }}
{{- define "release-intake.volumes" -}}{{- end }}
{{- define "release-intake.volumeMounts" -}}{{- end }}
{{- define "release-intake.env" -}}
# Signed links: optional, so a missing Secret or key leaves them off.
- name: SLUICE_LINK_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.links.existingSecret | default .Values.global.sluice.existingSecret | default "sluice-link-keys" }}
      key: {{ .Values.links.key | default "link-keys" }}
      optional: true
- name: SLUICE_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "release-intake.secretName" . }}
      key: {{ .Values.secret.adminTokenKey }}
{{- with .Values.secret.githubWebhookSecretKey }}
# Optional: /v1/hooks/github answers 404 while the key is absent.
- name: SLUICE_GITHUB_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "release-intake.secretName" $ }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end }}
