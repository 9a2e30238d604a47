{{/* Names and labels. */}}
{{- define "openclaw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "openclaw.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "openclaw.labels" -}}
{{ include "openclaw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "openclaw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "openclaw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "openclaw.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
Install-time refusals that values.schema.json states too (Helm checks the schema first; this is
for `helm template --skip-schema-validation` and tools that render without the schema).
*/}}
{{- define "openclaw.validate" -}}
{{- if and (eq .Values.store.type "sqlite") (gt (int .Values.replicaCount) 1) -}}
{{- fail (printf "replicaCount is %d, but store.type sqlite runs exactly one daemon (one SQLite file, one owner): set replicaCount to 1, or use store.type postgres for several daemons" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (eq .Values.store.type "sqlite") .Values.autoscaling.enabled -}}
{{- fail "autoscaling needs store.type postgres: a SQLite fleet is one daemon and cannot scale out" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail (printf "autoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d)" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}

{{/* A Secret reference for a URL: the user's existingSecret, else the chart's own Secret. */}}
{{- define "openclaw.urlEnv" -}}
{{- $v := index .root.Values .name -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ default (printf "%s-urls" (include "openclaw.fullname" .root)) $v.existingSecret }}
      key: {{ if $v.existingSecret }}{{ $v.existingSecretKey }}{{ else }}{{ .name }}-url{{ end }}
{{- end -}}

{{/* The daemon's environment: only variables the daemon or the project's openclaw.yaml reads. */}}
{{- define "openclaw.env" -}}
{{- if eq .Values.store.type "postgres" }}
{{ include "openclaw.urlEnv" (dict "root" . "name" "postgres" "env" "OPENCLAW_DB_URL") }}
{{- end }}
- name: OPENCLAW_BUS_BACKEND
  value: {{ .Values.bus.backend | quote }}
{{- if ne .Values.bus.backend "embedded" }}
{{ include "openclaw.urlEnv" (dict "root" . "name" .Values.bus.backend "env" "OPENCLAW_BUS_URL") }}
{{- end }}
{{- if .Values.masterKey.existingSecret }}
- name: OPENCLAW_MASTER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.masterKey.existingSecret }}
      key: {{ .Values.masterKey.existingSecretKey }}
{{- end }}
{{- if .Values.otelEndpoint }}
- name: OPENCLAW_OTEL_ENDPOINT
  value: {{ .Values.otelEndpoint | quote }}
{{- end }}
- name: OPENCLAW_PORT
  value: {{ .Values.service.port | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod template shared by the Deployment (postgres) and the StatefulSet (sqlite). */}}
{{- define "openclaw.podTemplate" -}}
metadata:
  labels:
    {{- include "openclaw.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or .Values.project.files .Values.podAnnotations }}
  annotations:
    {{- if .Values.project.files }}
    checksum/project: {{ include (print $.Template.BasePath "/project-configmap.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "openclaw.serviceAccountName" . }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  # SIGTERM → the daemon drains and hands its agents' leases over before it exits.
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- if .Values.project.files }}
  initContainers:
    # Copies the project from its ConfigMap into /project (a ConfigMap volume is read-only, and the
    # daemon's data directory /project/.openclaw must be a writable mount inside the project).
    - name: project
      image: {{ include "openclaw.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # `..data` and `..<timestamp>` are the ConfigMap volume's own bookkeeping: not copied.
      command: ["sh", "-c", "cd /project-files && find . -mindepth 1 -maxdepth 1 ! -name '..*' -exec cp -RL {} /project/ \\;"]
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - { name: project-files, mountPath: /project-files, readOnly: true }
        - { name: project, mountPath: /project }
  {{- end }}
  containers:
    - name: openclaw
      image: {{ include "openclaw.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["daemon", "run", "--project", "/project", "--host", "0.0.0.0"]
      env:
        {{- include "openclaw.env" . | nindent 8 }}
      ports:
        - { name: http, containerPort: {{ .Values.service.port }}, protocol: TCP }
      startupProbe:
        httpGet: { path: /startupz, port: http }
        periodSeconds: 2
        failureThreshold: 90
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        periodSeconds: 5
        failureThreshold: 2
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 10
        failureThreshold: 6
      lifecycle:
        preStop:
          # Out of the Service's endpoints before SIGTERM; `sleep` is busybox's (alpine image).
          exec: { command: ["sleep", "{{ .Values.preStopSleepSeconds }}"] }
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        {{- if .Values.project.files }}
        - { name: project, mountPath: /project }
        {{- end }}
        - { name: data, mountPath: /project/.openclaw }
        - { name: tmp, mountPath: /tmp }
  volumes:
    {{- if .Values.project.files }}
    - name: project-files
      configMap:
        name: {{ include "openclaw.fullname" . }}-project
        items:
          {{- range $path, $_ := .Values.project.files }}
          - { key: {{ $path | replace "/" "__" | quote }}, path: {{ $path | quote }} }
          {{- end }}
    - name: project
      emptyDir: {}
    {{- end }}
    {{- if ne .Values.store.type "sqlite" }}
    # PostgreSQL holds the fleet; the pod's data directory holds only its daemon files and logs.
    - name: data
      emptyDir: {}
    {{- end }}
    - name: tmp
      emptyDir: {}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The autoscalers' scale-down (HPA behavior; KEDA passes it to the HPA it manages). */}}
{{- define "openclaw.scaleDown" -}}
# Scale down slowly: each removed daemon drains and hands its agents over, one pod a minute.
scaleDown:
  stabilizationWindowSeconds: 300
  policies: [{ type: Pods, value: 1, periodSeconds: 60 }]
{{- end -}}
