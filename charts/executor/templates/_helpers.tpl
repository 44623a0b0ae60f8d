{{/* Generated from charts/_shared/templates by scripts/charts.py sync: edit it there. */}}
{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "executor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Under the umbrella chart (global.sluice.umbrella) always
<release>-<chart>, so the services find each other by release name whatever it is.
*/}}
{{- define "executor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if and (contains $name .Release.Name) (not .Values.global.sluice.umbrella) }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "executor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "executor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "executor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "executor.labels" -}}
helm.sh/chart: {{ include "executor.chart" . }}
{{ include "executor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ include "executor.component" . }}
app.kubernetes.io/part-of: sluice
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "executor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "executor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with this service's own keys: secret.existingSecret, else the suite's
global.sluice.existingSecret, else the release's full name. */}}
{{- define "executor.secretName" -}}
{{- .Values.secret.existingSecret | default .Values.global.sluice.existingSecret | default (include "executor.fullname" .) }}
{{- end }}

{{/* registry/repository@digest, or registry/repository:tag (tag defaults to the chart's appVersion). */}}
{{- define "executor.image" -}}
{{- $g := .Values.global.sluice.image }}
{{- $repo := .Values.image.repository }}
{{- with (.Values.image.registry | default $g.registry) }}
{{- $repo = printf "%s/%s" . $repo }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default $g.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Does this service use dependency $.dep (kafka, postgres, redis, prometheus)? */}}
{{- define "executor.uses" -}}
{{- if has .dep (include "executor.dependencies" .ctx | splitList " ") }}true{{ end }}
{{- end }}

{{/* The plain settings: config (values may use templates: {{ .Release.Name }}), the
listen address from containerPort, then the suite's addresses from global.sluice. */}}
{{- define "executor.config" -}}
{{- $g := .Values.global.sluice }}
{{- $c := dict "SLUICE_HTTP_ADDR" (printf "0.0.0.0:%v" .Values.containerPort) }}
{{- range $k, $v := .Values.config }}
{{- $_ := set $c $k (tpl (toString $v) $) }}
{{- end }}
{{- if and $g.kafka.brokers (include "executor.uses" (dict "dep" "kafka" "ctx" .)) }}
{{- $_ := set $c "SLUICE_KAFKA_BROKERS" $g.kafka.brokers }}
{{- end }}
{{- if and $g.redis.url (include "executor.uses" (dict "dep" "redis" "ctx" .)) }}
{{- $_ := set $c "SLUICE_REDIS_URL" $g.redis.url }}
{{- end }}
{{- if and $g.prometheus.url (include "executor.uses" (dict "dep" "prometheus" "ctx" .)) }}
{{- $_ := set $c "SLUICE_PROMETHEUS_URL" $g.prometheus.url }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* How this service authenticates to Kafka (global.sluice.kafka.securityProtocol; libs/kafka
README "Security"): "plaintext" (none), or the protocol with, for sasl_*, the principal
(kafka.saslUsername, default the chart's name) and its password mounted from a Secret, never
an environment value, and for ssl / sasl_ssl the brokers' CA when a Secret holds it. */}}
{{- define "executor.kafkaProtocol" -}}
{{- if include "executor.uses" (dict "dep" "kafka" "ctx" .) }}
{{- .Values.global.sluice.kafka.securityProtocol | default "plaintext" }}
{{- else }}plaintext{{- end }}
{{- end }}
{{- define "executor.kafkaCa" -}}
{{- $p := include "executor.kafkaProtocol" . }}
{{- if and .Values.global.sluice.kafka.caExistingSecret (or (eq $p "ssl") (eq $p "sasl_ssl")) }}true{{ end }}
{{- end }}
{{- define "executor.kafkaEnv" -}}
{{- $k := .Values.global.sluice.kafka }}
{{- $p := include "executor.kafkaProtocol" . }}
{{- if ne $p "plaintext" }}
- name: SLUICE_KAFKA_SECURITY_PROTOCOL
  value: {{ $p | quote }}
{{- end }}
{{- if hasPrefix "sasl_" $p }}
- name: SLUICE_KAFKA_SASL_MECHANISM
  value: {{ $k.saslMechanism | default "SCRAM-SHA-512" | quote }}
- name: SLUICE_KAFKA_SASL_USERNAME
  value: {{ .Values.kafka.saslUsername | default .Chart.Name | quote }}
- name: SLUICE_KAFKA_SASL_PASSWORD_FILE
  value: /etc/sluice/kafka-sasl/password
{{- end }}
{{- if include "executor.kafkaCa" . }}
- name: SLUICE_KAFKA_SSL_CA_LOCATION
  value: /etc/sluice/kafka-ca/ca.pem
{{- end }}
{{- end }}
{{- define "executor.kafkaVolumes" -}}
{{- $k := .Values.global.sluice.kafka }}
{{- if hasPrefix "sasl_" (include "executor.kafkaProtocol" .) }}
- name: kafka-sasl
  secret:
    secretName: {{ required "global.sluice.kafka.saslExistingSecret: name the Secret with the services' Kafka passwords" $k.saslExistingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.kafka.saslUsername | default .Chart.Name }}
        path: password
{{- end }}
{{- if include "executor.kafkaCa" . }}
- name: kafka-ca
  secret:
    secretName: {{ $k.caExistingSecret }}
    defaultMode: 0444
    items:
      - key: {{ $k.caKey | default "ca.pem" }}
        path: ca.pem
{{- end }}
{{- end }}
{{- define "executor.kafkaVolumeMounts" -}}
{{- if hasPrefix "sasl_" (include "executor.kafkaProtocol" .) }}
- name: kafka-sasl
  mountPath: /etc/sluice/kafka-sasl
  readOnly: true
{{- end }}
{{- if include "executor.kafkaCa" . }}
- name: kafka-ca
  mountPath: /etc/sluice/kafka-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* Environment from Secrets shared by the suite: the service token, the PostgreSQL DSN
and, when global.sluice names them, Redis's URL and Prometheus's Authorization header. */}}
{{- define "executor.commonEnv" -}}
{{- $g := .Values.global.sluice }}
# The token every internal API requires and release-intake sends (one Secret for the suite).
- name: SLUICE_SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.serviceToken.existingSecret | default $g.serviceToken.existingSecret | default "sluice-service-token" }}
      key: {{ .Values.serviceToken.key | default $g.serviceToken.key | default "token" }}
- name: SLUICE_PG_DSN
  valueFrom:
    secretKeyRef:
      {{- if $g.postgres.existingSecret }}
      name: {{ $g.postgres.existingSecret }}
      key: {{ $g.postgres.dsnKey | default "pg-dsn" }}
      {{- else }}
      name: {{ include "executor.secretName" . }}
      key: {{ .Values.secret.pgDsnKey }}
      {{- end }}
{{- if and $g.redis.existingSecret (include "executor.uses" (dict "dep" "redis" "ctx" .)) }}
- name: SLUICE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $g.redis.existingSecret }}
      key: {{ $g.redis.urlKey | default "redis-url" }}
{{- end }}
{{- if and $g.prometheus.existingSecret (include "executor.uses" (dict "dep" "prometheus" "ctx" .)) }}
- name: SLUICE_PROMETHEUS_AUTHORIZATION
  valueFrom:
    secretKeyRef:
      name: {{ $g.prometheus.existingSecret }}
      key: {{ $g.prometheus.authorizationKey | default "prometheus-authorization" }}
{{- end }}
{{- include "executor.kafkaEnv" . }}
{{- end }}
