{{/* The chart's name, overridable with nameOverride. */}}
{{- define "gitopshq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release-qualified name every object is named after: the release name when it already
contains the chart name (`helm install gitopshq ...` gives "gitopshq").
*/}}
{{- define "gitopshq.fullname" -}}
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

{{- define "gitopshq.controller.fullname" -}}
{{- printf "%s-controller" (include "gitopshq.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gitopshq.webhook.fullname" -}}
{{- printf "%s-webhook" (include "gitopshq.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Secret holding the webhook's serving certificate (cert-manager's or self-managed). */}}
{{- define "gitopshq.webhook.tlsSecret" -}}
{{- default (printf "%s-tls" (include "gitopshq.webhook.fullname" .)) .Values.webhook.tls.secretName -}}
{{- end -}}

{{/* The cert-manager Certificate whose CA is injected into the webhook configurations. */}}
{{- define "gitopshq.webhook.certificate" -}}
{{- include "gitopshq.webhook.fullname" . -}}
{{- end -}}

{{- define "gitopshq.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create -}}
{{- default (include "gitopshq.controller.fullname" .) .Values.controller.serviceAccount.name -}}
{{- else -}}
{{- required "controller.serviceAccount.name is required when controller.serviceAccount.create is false" .Values.controller.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gitopshq.webhook.serviceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create -}}
{{- default (include "gitopshq.webhook.fullname" .) .Values.webhook.serviceAccount.name -}}
{{- else -}}
{{- required "webhook.serviceAccount.name is required when webhook.serviceAccount.create is false" .Values.webhook.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gitopshq.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; the component is added per object. */}}
{{- define "gitopshq.labels" -}}
helm.sh/chart: {{ include "gitopshq.chart" . }}
app.kubernetes.io/name: {{ include "gitopshq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitopshq
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component: pass (dict "ctx" $ "component" "controller"). */}}
{{- define "gitopshq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitopshq.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gitopshq.componentLabels" -}}
{{ include "gitopshq.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gitopshq.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The container securityContext both Deployments use: non-root, read-only, no capabilities. */}}
{{- define "gitopshq.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "gitopshq.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
