{{/* Names ---------------------------------------------------------------------------------------------------- */}}
{{- define "webdemo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webdemo.fullname" -}}
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

{{/* Every object of the release lives in this namespace. */}}
{{- define "webdemo.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "webdemo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webdemo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webdemo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webdemo.labels" -}}
helm.sh/chart: {{ include "webdemo.chart" . }}
{{ include "webdemo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "webdemo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "webdemo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "webdemo.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{- define "webdemo.hstsPluginName" -}}
{{- printf "%s-hsts" (include "webdemo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webdemo.secretName" -}}
{{- default (include "webdemo.fullname" .) .Values.externalSecret.targetName -}}
{{- end -}}

{{/*
Cross-field checks values.schema.json cannot express (JSON Schema does not compare two values). Included by the
Deployment, so `helm template`, `helm lint` and `helm install` all stop here with the message.
*/}}
{{- define "webdemo.validate" -}}
{{- $v := .Values -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail (printf "values: autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- $needed := add (int $v.preStopSleepSeconds) (int $v.config.gracefulTimeout) -}}
{{- if le (int $v.terminationGracePeriodSeconds) $needed -}}
{{- fail (printf "values: terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + config.gracefulTimeout (%d), or Kubernetes kills in-flight requests" (int $v.terminationGracePeriodSeconds) $needed) -}}
{{- end -}}
{{- if and $v.config.metricsEnabled (gt (int $v.config.workers) 1) (not $v.metricsDir.path) -}}
{{- fail "values: metricsDir.path is required with config.metricsEnabled and more than one worker (PROMETHEUS_MULTIPROC_DIR)" -}}
{{- end -}}
{{- if eq $v.config.server "granian" -}}
{{- if gt (int $v.config.maxRequests) 0 -}}
{{- fail (printf "values: config.maxRequests (%d) recycles gunicorn workers; granian cannot (it refuses to start): set it to 0 with config.server granian" (int $v.config.maxRequests)) -}}
{{- end -}}
{{- if not (has (lower $v.config.accessLog) (list "-" "off" "false" "no" "0")) -}}
{{- fail (printf "values: config.accessLog %q: granian writes its access log to stdout only; use \"-\" or \"off\" with config.server granian" $v.config.accessLog) -}}
{{- end -}}
{{- end -}}
{{- if and $v.podDisruptionBudget.enabled (hasKey $v.podDisruptionBudget "maxUnavailable") (hasKey $v.podDisruptionBudget "minAvailable") -}}
{{- fail "values: podDisruptionBudget takes maxUnavailable or minAvailable, not both" -}}
{{- end -}}
{{- if $v.ingress.enabled -}}
{{- include "webdemo.validateIngress" . -}}
{{- end -}}
{{- end -}}

{{/*
The Ingress routes the public API only: a path whose match covers /api/v1/info (OS facts) or /metrics fails. Exact
matches one path; Prefix matches by path elements (Kubernetes' rule: /api covers /api/v1/info, /api/v1/h does not
cover /api/v1/health), so "/" covers everything.
*/}}
{{- define "webdemo.validateIngress" -}}
{{- $v := .Values -}}
{{- range $v.ingress.paths -}}
{{- $entry := . -}}
{{- range list "/api/v1/info" "/metrics" -}}
{{- $covered := false -}}
{{- if eq $entry.pathType "Exact" -}}
{{- $covered = eq $entry.path . -}}
{{- else -}}
{{- $base := trimSuffix "/" $entry.path -}}
{{- $covered = or (eq $base "") (eq $base .) (hasPrefix (printf "%s/" $base) .) -}}
{{- end -}}
{{- if $covered -}}
{{- fail (printf "values: ingress.paths: %s %s would route %s outside the cluster; /api/v1/info and /metrics stay internal (the Service, the ServiceMonitor): list the public paths only, e.g. /api/v1/health" $entry.pathType $entry.path .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.ingress.hsts.enabled (ne $v.ingress.className "kong") -}}
{{- fail (printf "values: ingress.hsts.enabled makes a KongPlugin, which only className kong uses; set HSTS in the %s controller's configuration and ingress.hsts.enabled=false" $v.ingress.className) -}}
{{- end -}}
{{- end -}}
