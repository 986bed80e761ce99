{{/* Names, labels and the pieces every workload shares. */}}

{{- define "aidlink.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aidlink.fullname" -}}
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

{{- define "aidlink.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aidlink.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aidlink.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aidlink.labels" -}}
helm.sh/chart: {{ include "aidlink.chart" . }}
{{ include "aidlink.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aidlink
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Matcher names. */}}
{{- define "aidlink.matcher.fullname" -}}
{{- printf "%s-matcher" (include "aidlink.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aidlink.matcher.selectorLabels" -}}
{{ include "aidlink.selectorLabels" . }}
app.kubernetes.io/component: matcher
{{- end -}}

{{- define "aidlink.matcher.tlsSecret" -}}
{{- default (printf "%s-matcher-tls" (include "aidlink.fullname" .)) .Values.matcher.tls.existingSecret -}}
{{- end -}}

{{- define "aidlink.matcher.auditKeySecret" -}}
{{- default (printf "%s-matcher-audit-key" (include "aidlink.fullname" .)) .Values.matcher.audit.existingSecret -}}
{{- end -}}

{{- define "aidlink.matcher.address" -}}
{{- if .Values.gateways.matcherAddress -}}
{{- .Values.gateways.matcherAddress -}}
{{- else -}}
{{- printf "%s.%s.svc:%d" (include "aidlink.matcher.fullname" .) .Release.Namespace (int .Values.matcher.ports.grpc) -}}
{{- end -}}
{{- end -}}

{{/* Gateway names: call with (dict "root" $ "dept" $department). */}}
{{- define "aidlink.gateway.id" -}}
{{- printf "%s-%s" .dept.code .dept.divisionCode -}}
{{- end -}}

{{- define "aidlink.gateway.fullname" -}}
{{- printf "%s-gateway-%s" (include "aidlink.fullname" .root) (include "aidlink.gateway.id" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aidlink.gateway.selectorLabels" -}}
{{ include "aidlink.selectorLabels" .root }}
app.kubernetes.io/component: gateway
aidlink/department: {{ .dept.code }}
aidlink/division-code: {{ .dept.divisionCode | quote }}
{{- end -}}

{{- define "aidlink.gateway.labels" -}}
{{ include "aidlink.labels" .root }}
app.kubernetes.io/component: gateway
aidlink/department: {{ .dept.code }}
aidlink/division-code: {{ .dept.divisionCode | quote }}
aidlink/level: {{ .dept.level }}
{{- end -}}

{{- define "aidlink.gateway.nodeSecret" -}}
{{- default (printf "%s-node-%s" (include "aidlink.fullname" .root) (include "aidlink.gateway.id" .)) .dept.nodeSecret -}}
{{- end -}}

{{- define "aidlink.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aidlink.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "aidlink.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Environment every container gets: numba's cache on a writable volume. */}}
{{- define "aidlink.scratchEnv" -}}
- name: NUMBA_CACHE_DIR
  value: /var/cache/numba
- name: TMPDIR
  value: /tmp
- name: PYTHONUNBUFFERED
  value: "1"
{{- end -}}

{{- define "aidlink.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: numba-cache
  mountPath: /var/cache/numba
{{- end -}}

{{- define "aidlink.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.scratch.tmpSizeLimit }}
- name: numba-cache
  emptyDir:
    sizeLimit: {{ .Values.scratch.numbaCacheSizeLimit }}
{{- end -}}

{{/* A kubelet gRPC probe: (dict "port" P "service" S "probe" values.probes.X). */}}
{{- define "aidlink.grpcProbe" -}}
grpc:
  port: {{ .port }}
  {{- with .service }}
  service: {{ . | quote }}
  {{- end }}
periodSeconds: {{ .probe.periodSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
{{- end -}}

{{/* The cluster DNS as an egress rule. */}}
{{- define "aidlink.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}

{{- define "aidlink.monitoringPeer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Values.networkPolicy.monitoringNamespace }}
{{- end -}}

{{/* Dask cluster names (dask.enabled). */}}
{{- define "aidlink.dask.schedulerName" -}}
{{- printf "%s-dask-scheduler" (include "aidlink.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aidlink.dask.workerName" -}}
{{- printf "%s-dask-worker" (include "aidlink.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aidlink.dask.schedulerSelectorLabels" -}}
{{ include "aidlink.selectorLabels" . }}
app.kubernetes.io/component: dask-scheduler
{{- end -}}

{{- define "aidlink.dask.workerSelectorLabels" -}}
{{ include "aidlink.selectorLabels" . }}
app.kubernetes.io/component: dask-worker
{{- end -}}

{{- define "aidlink.dask.tlsSecret" -}}
{{- default (printf "%s-dask-tls" (include "aidlink.fullname" .)) .Values.dask.tls.existingSecret -}}
{{- end -}}

{{- define "aidlink.dask.schedulerAddress" -}}
{{- printf "tls://%s.%s.svc:%d" (include "aidlink.dask.schedulerName" .) .Release.Namespace (int .Values.dask.scheduler.port) -}}
{{- end -}}

{{/* Dask's own TLS flags: certificates from the Dask cluster's CA, mounted at /etc/aidlink/dask. */}}
{{- define "aidlink.dask.tlsArgs" -}}
- --tls-ca-file=/etc/aidlink/dask/ca.crt
- --tls-cert=/etc/aidlink/dask/tls.crt
- --tls-key=/etc/aidlink/dask/tls.key
{{- end -}}

{{/* Dask settings every Dask container gets: TLS required, config and scratch under /tmp. */}}
{{- define "aidlink.dask.env" -}}
- name: DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION
  value: "True"
- name: DASK_CONFIG
  value: /tmp/dask-config
- name: DASK_TEMPORARY_DIRECTORY
  value: /tmp
{{- end -}}
