{{/* The chart's name, or nameOverride: the pods' `app` label. */}}
{{- define "loadtester.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The objects' name: fullnameOverride, else the release name when it already holds the
chart's name (flagger-loadtester), else release-name. */}}
{{- define "loadtester.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "loadtester.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; `app` is the pods' selector label, as in Flagger's chart. */}}
{{- define "loadtester.labels" -}}
app: {{ include "loadtester.name" . }}
app.kubernetes.io/name: {{ include "loadtester.name" . }}
helm.sh/chart: {{ include "loadtester.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "loadtester.selector" -}}
app: {{ include "loadtester.name" . }}
{{- end -}}

{{- define "loadtester.serviceAccountName" -}}
{{- if .Values.serviceAccountName -}}
{{- .Values.serviceAccountName -}}
{{- else if .Values.rbac.create -}}
{{- include "loadtester.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Values the schema cannot explain well enough: refused with a message saying what to do. */}}
{{- define "loadtester.validate" -}}
{{- if .Values.state.redis.url -}}
{{- fail "state.redis.url: a Redis URL holds its password, so it is not taken from values. Put it in a Secret (kubectl create secret generic loadtester-state --from-literal=url=redis://...) and set state.redis.existingSecret=loadtester-state" -}}
{{- end -}}
{{- if and (eq .Values.state.backend "redis") (not .Values.state.redis.existingSecret) -}}
{{- fail "state.backend=redis needs state.redis.existingSecret: the name of a Secret holding the Redis URL under state.redis.key" -}}
{{- end -}}
{{- if and .Values.events.existingConfigMap .Values.events.config -}}
{{- fail "events: set events.config or events.existingConfigMap, not both" -}}
{{- end -}}
{{- end -}}
