{{/*
The default llamacol configuration of each mode. Values in `${env:...}` are read by
llamacol at start from the pod's environment (the downward API sets K8S_*).
*/}}
{{- define "llamacol.defaultConfig" -}}
{{- $persistent := .Values.persistentQueue.enabled -}}
{{- if eq .Values.mode "daemonset" -}}
{{- $gateway := .Values.gatewayEndpoint | default ("llamacol-gateway:4317") -}}
{{- $dcgm := and .Values.nvml.enabled (eq .Values.nvml.naming "dcgm") -}}
{{- include "llamacol.extensions" . }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp").containerPort }}
      http:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp-http").containerPort }}
{{- include "llamacol.jaegerZipkinReceivers" . }}
{{- if .Values.nvml.enabled }}
  nvml:
    collection_interval: {{ .Values.nvml.collectionInterval }}
    naming: {{ .Values.nvml.naming }}
    on_unavailable: warn
    # The node's name, not the pod's (the container's hostname).
    hostname: "${env:K8S_NODE_NAME}"
{{- if .Values.nvml.podAttribution }}
    kubernetes:
      enabled: true
      pod_resources_socket: /var/lib/kubelet/pod-resources/kubelet.sock
      proc_dir: /host/proc
{{- end }}
{{- end }}
{{- if .Values.llamacpp.targets }}
  llamacpp:
    collection_interval: {{ .Values.llamacpp.collectionInterval }}
    targets:
{{ toYaml .Values.llamacpp.targets | indent 6 }}
{{- end }}
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
{{- include "llamacol.k8sAttributes" (list . .Values.k8sAttributes.agent) }}
  # What the agent reads itself (GPUs, llama.cpp) is the node's.
  resource/node:
    attributes:
      - {key: k8s.node.name, value: "${env:K8S_NODE_NAME}", action: upsert}
      - {key: host.name, value: "${env:K8S_NODE_NAME}", action: upsert}
  genai:
    node_context: true
    identity_salt: "${env:LLAMACOL_IDENTITY_SALT}"
connectors:
  genai_metrics: {}
exporters:
  otlp/gateway:
    endpoint: {{ $gateway }}
    compression: zstd
    tls:
      insecure: true
{{- if $persistent }}
    sending_queue:
      storage: file_storage
      queue_size_mib: 512
    retry_on_failure:
      max_elapsed_time: 0s
{{- end }}
  prometheus:
    endpoint: 0.0.0.0:{{ .Values.ports.prometheus.containerPort }}
{{- if $dcgm }}
  # dcgm-exporter's names as it serves them: its counters carry no `_total`.
  prometheus/dcgm:
    endpoint: 0.0.0.0:{{ .Values.ports.dcgm.containerPort }}
    translation_strategy: UnderscoreEscapingWithoutSuffixes
    without_scope_info: true
{{- end }}
service:
{{- include "llamacol.serviceTelemetry" . }}
  pipelines:
{{- $k8s := ne .Values.k8sAttributes.agent "off" }}
{{- $scraped := or (and .Values.nvml.enabled (not $dcgm)) .Values.llamacpp.targets }}
    traces:
      receivers: [otlp{{ include "llamacol.jaegerZipkinList" . }}]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}, genai]
      exporters: [otlp/gateway, genai_metrics]
    metrics:
      receivers: [otlp, genai_metrics]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}]
      exporters: [otlp/gateway, prometheus]
{{- if $scraped }}
    metrics/node:
      receivers: [{{ if and .Values.nvml.enabled (not $dcgm) }}nvml{{ if .Values.llamacpp.targets }}, {{ end }}{{ end }}{{ if .Values.llamacpp.targets }}llamacpp{{ end }}]
      processors: [memory_limiter, resource/node]
      exporters: [otlp/gateway, prometheus]
{{- end }}
{{- if $dcgm }}
    metrics/gpu:
      receivers: [nvml]
      processors: [memory_limiter, resource/node]
      exporters: [otlp/gateway, prometheus/dcgm]
{{- end }}
    logs:
      receivers: [otlp]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}]
      exporters: [otlp/gateway]
{{- if .Values.nvml.enabled }}
    logs/node:
      receivers: [nvml]
      processors: [memory_limiter, resource/node]
      exporters: [otlp/gateway]
{{- end }}
{{- else }}
{{- include "llamacol.extensions" . }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp").containerPort }}
        max_recv_msg_size_mib: 16
      http:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp-http").containerPort }}
{{- include "llamacol.jaegerZipkinReceivers" . }}
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
{{- if .Values.k8sAttributes.gateway }}
{{- include "llamacol.k8sAttributes" (list . "gateway") }}
{{- end }}
{{- if not $persistent }}
  batch:
    send_batch_size: 8192
    send_batch_max_size: 16384
    timeout: 1s
{{- end }}
exporters:
  otlp/backend:
    endpoint: ${env:LLAMACOL_BACKEND_ENDPOINT:-http://otel-backend:4318}
    protocol: http
    compression: gzip
{{- if $persistent }}
    sending_queue:
      storage: file_storage
      queue_size_mib: 2048
    retry_on_failure:
      max_elapsed_time: 0s
{{- end }}
service:
{{- include "llamacol.serviceTelemetry" . }}
  pipelines:
{{- range $signal := list "traces" "metrics" "logs" }}
    {{ $signal }}:
      receivers: [otlp{{ if eq $signal "traces" }}{{ include "llamacol.jaegerZipkinList" $ }}{{ end }}]
      processors: [memory_limiter{{ if $.Values.k8sAttributes.gateway }}, k8s_attributes{{ end }}{{ if not $persistent }}, batch{{ end }}]
      exporters: [otlp/backend]
{{- end }}
{{- end }}
{{- end -}}


{{/*
The `k8s_attributes` processor block: (list . mode), mode `full` (an agent: its node's pods,
by connection), `passthrough` (only k8s.pod.ip) or `gateway` (every pod, by the k8s.pod.ip
an agent stamped, else by connection). `off` renders nothing.
*/}}
{{- define "llamacol.k8sAttributes" -}}
{{- $root := index . 0 -}}
{{- $mode := index . 1 -}}
{{- $values := $root.Values.k8sAttributes -}}
{{- if eq $mode "passthrough" }}
  k8s_attributes:
    passthrough: true
{{- else if or (eq $mode "full") (eq $mode "gateway") }}
  k8s_attributes:
    auth_type: serviceAccount
{{- if eq $mode "full" }}
    filter:
      node_from_env_var: K8S_NODE_NAME
{{- else }}
    pod_association:
      - sources: [{from: resource_attribute, name: k8s.pod.ip}]
      - sources: [{from: resource_attribute, name: k8s.pod.uid}]
      - sources: [{from: connection}]
{{- end }}
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, k8s.deployment.name,
                 k8s.statefulset.name, k8s.daemonset.name, k8s.job.name, k8s.cronjob.name, k8s.node.name]
{{- with $values.labels }}
      labels:
{{ toYaml . | indent 8 }}
{{- end }}
{{- with $values.annotations }}
      annotations:
{{ toYaml . | indent 8 }}
{{- end }}
{{- else if ne $mode "off" }}
{{- fail (printf "k8sAttributes.agent is `%s`; use full, passthrough or off" $mode) }}
{{- end }}
{{- end -}}


{{/* The extensions: the persistent queue's storage, the admin server's authenticator. */}}
{{- define "llamacol.extensions" -}}
{{- if or .Values.persistentQueue.enabled .Values.admin.auth.existingSecret }}
extensions:
{{- if .Values.persistentQueue.enabled }}
  file_storage:
    directory: /var/lib/llamacol/queue
    create_directory: true
{{- end }}
{{- if .Values.admin.auth.existingSecret }}
  bearertokenauth/admin:
    token: "${env:LLAMACOL_ADMIN_TOKEN}"
{{- end }}
{{- end }}
{{- end -}}

{{/*
`service.extensions` and `service.telemetry`: the admin server on the pod's IP (or every
address with `admin.listen: all`), behind the bearer token when `admin.auth` names one.
*/}}
{{- define "llamacol.serviceTelemetry" -}}
{{- $extensions := list -}}
{{- if .Values.persistentQueue.enabled }}{{ $extensions = append $extensions "file_storage" }}{{ end -}}
{{- if .Values.admin.auth.existingSecret }}{{ $extensions = append $extensions "bearertokenauth/admin" }}{{ end -}}
{{- if $extensions }}
  extensions: [{{ join ", " $extensions }}]
{{- end }}
  telemetry:
    admin:
      endpoint: "{{ if eq .Values.admin.listen "all" }}0.0.0.0{{ else if eq .Values.admin.listen "podIP" }}${env:K8S_POD_IP}{{ else }}{{ fail (printf "admin.listen is `%s`; use podIP or all" .Values.admin.listen) }}{{ end }}:{{ .Values.ports.admin.containerPort }}"
{{- if .Values.admin.auth.existingSecret }}
      auth: {authenticator: bearertokenauth/admin}
{{- end }}
{{- end -}}


{{/* The `jaeger` and `zipkin` receivers of the ports turned on. */}}
{{- define "llamacol.jaegerZipkinReceivers" -}}
{{- $p := .Values.ports -}}
{{- if or (index $p "jaeger-grpc").enabled (index $p "jaeger-thrift").enabled (index $p "jaeger-compact").enabled }}
  jaeger:
    protocols:
{{- if (index $p "jaeger-grpc").enabled }}
      grpc:
        endpoint: 0.0.0.0:{{ (index $p "jaeger-grpc").containerPort }}
{{- end }}
{{- if (index $p "jaeger-thrift").enabled }}
      thrift_http:
        endpoint: 0.0.0.0:{{ (index $p "jaeger-thrift").containerPort }}
{{- end }}
{{- if (index $p "jaeger-compact").enabled }}
      thrift_compact:
        endpoint: 0.0.0.0:{{ (index $p "jaeger-compact").containerPort }}
{{- end }}
{{- end }}
{{- if $p.zipkin.enabled }}
  zipkin:
    endpoint: 0.0.0.0:{{ $p.zipkin.containerPort }}
{{- end }}
{{- end -}}

{{/* `, jaeger` and `, zipkin` for the traces pipeline's receivers, as turned on. */}}
{{- define "llamacol.jaegerZipkinList" -}}
{{- $p := .Values.ports -}}
{{- if or (index $p "jaeger-grpc").enabled (index $p "jaeger-thrift").enabled (index $p "jaeger-compact").enabled }}, jaeger{{ end -}}
{{- if $p.zipkin.enabled }}, zipkin{{ end -}}
{{- end -}}
