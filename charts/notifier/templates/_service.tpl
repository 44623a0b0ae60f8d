{{/* What is particular to this chart; the shared templates (charts/_shared) include these. */}}
{{- define "notifier.component" -}}notifications{{- end }}
{{- define "notifier.dependencies" -}}kafka postgres redis{{- end }}
{{- define "notifier.podChecksums" -}}
{{- if .Values.routing }}
checksum/routing: {{ include (print $.Template.BasePath "/routing-configmap.yaml") . | sha256sum }}
{{- end }}
{{- end }}
{{- define "notifier.envFrom" -}}
{{- with .Values.secret.channelsExistingSecret }}
# The SLUICE_* variables the routing names (webhook URLs, signing secrets, SMTP credentials).
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}
{{- define "notifier.volumes" -}}
{{- if .Values.routing }}
- name: routing
  configMap:
    name: {{ include "notifier.fullname" . }}-routing
{{- end }}
{{- end }}
{{- define "notifier.volumeMounts" -}}
{{- if .Values.routing }}
- name: routing
  mountPath: /etc/sluice/notifier
  readOnly: true
{{- end }}
{{- end }}
{{- define "notifier.env" -}}
# Signed links: optional, so a missing Secret or key leaves them off.
- name: SLUICE_LINK_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.links.existingSecret | default .Values.global.sluice.existingSecret | default "sluice-link-keys" }}
      key: {{ .Values.links.key | default "link-keys" }}
      optional: true
{{- if .Values.routing }}
- name: SLUICE_NOTIFIER_CONFIG
  value: /etc/sluice/notifier/routes.yaml
{{- end }}
{{- end }}
