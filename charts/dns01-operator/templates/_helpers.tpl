{{/* The chart name, or nameOverride. */}}
{{- define "dns01-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else the release name when it already
contains the chart name, else "<release>-<chart>". Cluster-scoped objects (ClusterRole and its
binding) carry it too, so two releases in different namespaces never collide.
*/}}
{{- define "dns01-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version. */}}
{{- define "dns01-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "dns01-operator.labels" -}}
helm.sh/chart: {{ include "dns01-operator.chart" . }}
{{ include "dns01-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dns01-operator
{{- end }}

{{/* Labels that select the operator's pods: they must never change between upgrades. */}}
{{- define "dns01-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dns01-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "dns01-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dns01-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: a digest wins over a tag; the tag defaults to appVersion. */}}
{{- define "dns01-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Namespace of the leader-election Lease. */}}
{{- define "dns01-operator.leaderElectionNamespace" -}}
{{- .Values.leaderElection.namespace | default .Release.Namespace }}
{{- end }}

{{/* Namespace whose Secrets ClusterIssuers read. */}}
{{- define "dns01-operator.clusterResourceNamespace" -}}
{{- .Values.clusterResourceNamespace | default .Release.Namespace }}
{{- end }}

{{/* host:port from a bind address and a port (a dict of both); an IPv6 address goes in brackets. */}}
{{- define "dns01-operator.hostPort" -}}
{{- if contains ":" .host }}
{{- printf "[%s]:%d" .host (int .port) }}
{{- else }}
{{- printf "%s:%d" .host (int .port) }}
{{- end }}
{{- end }}

{{/* host:port of the health server. */}}
{{- define "dns01-operator.healthAddr" -}}
{{- include "dns01-operator.hostPort" (dict "host" .Values.health.bindAddress "port" .Values.health.port) }}
{{- end }}

{{/* host:port of the metrics server. */}}
{{- define "dns01-operator.metricsAddr" -}}
{{- include "dns01-operator.hostPort" (dict "host" .Values.metrics.bindAddress "port" .Values.metrics.port) }}
{{- end }}
