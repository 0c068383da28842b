{{/* The name of every object: the release's, or release-chart, at most 63 characters. */}}
{{- define "pvl.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator's namespace. */}}
{{- define "pvl.namespace" -}}
{{- .Values.namespace.name | default .Release.Namespace -}}
{{- end -}}

{{/*
Labels of every object: config/'s name label, plus the two that say which
release owns it. Selectors and pod labels carry config/'s labels only, so that
an upgrade from `kubectl apply -k` keeps the Deployment's selector.
*/}}
{{- define "pvl.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "pvl.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator's flags, in config/manager's order; config/managed's --controllers after them. */}}
{{- define "pvl.args" -}}
{{- $args := list -}}
{{- if .Values.leaderElection.enabled -}}
{{- $args = append $args "--leader-elect" -}}
{{- end -}}
{{- $args = append $args (printf "--metrics-bind-address=:%v" (int .Values.metrics.port)) -}}
{{- if eq true .Values.metrics.secure }}{{ $args = append $args "--metrics-secure" }}{{ end -}}
{{- $args = append $args (printf "--log-format=%s" .Values.logFormat) -}}
{{- with .Values.logLevel }}{{ $args = append $args (printf "--log-level=%s" .) }}{{ end -}}
{{- if .Values.leaderElection.enabled -}}
{{- with .Values.leaderElection.id }}{{ $args = append $args (printf "--leader-election-id=%s" .) }}{{ end -}}
{{- with .Values.leaderElection.leaseDuration }}{{ $args = append $args (printf "--leader-election-lease-duration=%s" .) }}{{ end -}}
{{- with .Values.leaderElection.renewDeadline }}{{ $args = append $args (printf "--leader-election-renew-deadline=%s" .) }}{{ end -}}
{{- with .Values.leaderElection.retryPeriod }}{{ $args = append $args (printf "--leader-election-retry-period=%s" .) }}{{ end -}}
{{- end -}}
{{- /* 0 (probes off) may come as a number, from --set nfsProbe.interval=0. */ -}}
{{- $interval := toString .Values.nfsProbe.interval -}}
{{- if ne $interval "" }}{{ $args = append $args (printf "--probe-interval=%s" $interval) }}{{ end -}}
{{- with .Values.nfsProbe.timeout }}{{ $args = append $args (printf "--probe-timeout=%s" .) }}{{ end -}}
{{- with .Values.nfsProbe.concurrency }}{{ $args = append $args (printf "--probe-concurrency=%v" .) }}{{ end -}}
{{- if .Values.recycler.podTemplate -}}
{{- $args = append $args (printf "--recycler-pod-template-configmap=%s-recycler/template.yaml" (include "pvl.fullname" .)) -}}
{{- end -}}
{{- with .Values.controllers }}{{ $args = append $args (printf "--controllers=%s" .) }}{{ end -}}
{{- range .Values.extraArgs }}{{ $args = append $args . }}{{ end -}}
{{- toYaml $args -}}
{{- end -}}

{{/* A probe with httpGet's scheme following metrics.secure, unless the values set one. */}}
{{- define "pvl.probe" -}}
{{- $probe := deepCopy .probe -}}
{{- if and (hasKey $probe "httpGet") (not (hasKey $probe.httpGet "scheme")) -}}
{{- $_ := set $probe.httpGet "scheme" (ternary "HTTPS" "HTTP" .secure) -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}
