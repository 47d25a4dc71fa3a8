{{/* Names and labels. */}}
{{- define "llamacol.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llamacol.fullname" -}}
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

{{- define "llamacol.component" -}}
{{- if eq .Values.mode "daemonset" }}agent{{ else }}gateway{{ end -}}
{{- end -}}

{{- define "llamacol.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llamacol.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "llamacol.component" . }}
{{- end -}}

{{- define "llamacol.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "llamacol.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "llamacol.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llamacol.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The gateway workload: a StatefulSet when each replica keeps a persistent queue. */}}
{{- define "llamacol.workloadKind" -}}
{{- if eq .Values.mode "daemonset" -}}DaemonSet
{{- else if .Values.persistentQueue.enabled -}}StatefulSet
{{- else -}}Deployment
{{- end -}}
{{- end -}}

{{- define "llamacol.checkMode" -}}
{{- if not (has .Values.mode (list "daemonset" "deployment")) -}}
{{- fail (printf "mode must be `daemonset` (agent) or `deployment` (gateway), not `%s`" .Values.mode) -}}
{{- end -}}
{{- end -}}

{{/* The configuration: the mode's default merged with .Values.config. */}}
{{- define "llamacol.config" -}}
{{- $default := include "llamacol.defaultConfig" . | fromYaml -}}
{{- $merged := mustMergeOverwrite $default (deepCopy .Values.config) -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* The Secret holding the genai processor's identity salt. */}}
{{- define "llamacol.identitySaltSecret" -}}
{{- .Values.genai.identitySalt.existingSecret | default (printf "%s-identity-salt" (include "llamacol.fullname" .)) -}}
{{- end -}}

{{/*
Whether port `name` is served: enabled, and for `dcgm` only on an agent whose nvml
receiver uses dcgm-exporter's naming. Called with (list $ name port).
*/}}
{{- define "llamacol.portServed" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}{{- $port := index . 2 -}}
{{- if and $port.enabled (or (ne $name "dcgm") (and (eq $root.Values.mode "daemonset") $root.Values.nvml.enabled (eq $root.Values.nvml.naming "dcgm"))) -}}true{{- end -}}
{{- end }}

{{/* Non-empty when this release's k8s_attributes watches the API (RBAC, token mounted). */}}
{{- define "llamacol.watchesPods" -}}
{{- if eq .Values.mode "daemonset" -}}
{{- if eq .Values.k8sAttributes.agent "full" }}true{{ end -}}
{{- else if .Values.k8sAttributes.gateway }}true{{- end -}}
{{- end -}}

{{/* Non-empty when the agent's nvml receiver names the pods holding the GPUs. */}}
{{- define "llamacol.podAttribution" -}}
{{- if and (eq .Values.mode "daemonset") .Values.nvml.enabled .Values.nvml.podAttribution }}true{{ end -}}
{{- end -}}
