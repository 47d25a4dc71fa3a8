{{/*
The default llamacol configuration of each mode. Values in `${env:...}` are read by
llamacol at start from the pod's environment (the downward API sets K8S_*).
*/}}
{{- define "llamacol.defaultConfig" -}}
{{- $persistent := .Values.persistentQueue.enabled -}}
{{- if eq .Values.mode "daemonset" -}}
{{- $gateway := .Values.gatewayEndpoint | default ("llamacol-gateway:4317") -}}
{{- $dcgm := and .Values.nvml.enabled (eq .Values.nvml.naming "dcgm") -}}
{{- if $persistent }}
extensions:
  file_storage:
    directory: /var/lib/llamacol/queue
    create_directory: true
{{- end }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp").containerPort }}
      http:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp-http").containerPort }}
{{- if .Values.nvml.enabled }}
  nvml:
    collection_interval: {{ .Values.nvml.collectionInterval }}
    naming: {{ .Values.nvml.naming }}
    on_unavailable: warn
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
  resource/k8s:
    attributes:
      - {key: k8s.node.name, value: "${env:K8S_NODE_NAME}", action: upsert}
      - {key: k8s.pod.name, value: "${env:K8S_POD_NAME}", action: upsert}
      - {key: k8s.namespace.name, value: "${env:K8S_NAMESPACE}", action: upsert}
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
{{- if $persistent }}
  extensions: [file_storage]
{{- end }}
  telemetry:
    admin:
      endpoint: 0.0.0.0:{{ .Values.ports.admin.containerPort }}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, resource/k8s, genai]
      exporters: [otlp/gateway, genai_metrics]
    metrics:
      receivers: [otlp{{ if and .Values.nvml.enabled (not $dcgm) }}, nvml{{ end }}{{ if .Values.llamacpp.targets }}, llamacpp{{ end }}, genai_metrics]
      processors: [memory_limiter, resource/k8s]
      exporters: [otlp/gateway, prometheus]
{{- if $dcgm }}
    metrics/gpu:
      receivers: [nvml]
      processors: [memory_limiter, resource/k8s]
      exporters: [otlp/gateway, prometheus/dcgm]
{{- end }}
    logs:
      receivers: [otlp{{ if .Values.nvml.enabled }}, nvml{{ end }}]
      processors: [memory_limiter, resource/k8s]
      exporters: [otlp/gateway]
{{- else }}
{{- if $persistent }}
extensions:
  file_storage:
    directory: /var/lib/llamacol/queue
    create_directory: true
{{- end }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp").containerPort }}
        max_recv_msg_size_mib: 16
      http:
        endpoint: 0.0.0.0:{{ (index .Values.ports "otlp-http").containerPort }}
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  resource/k8s:
    attributes:
      - {key: k8s.pod.name, value: "${env:K8S_POD_NAME}", action: insert}
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
{{- if $persistent }}
  extensions: [file_storage]
{{- end }}
  telemetry:
    admin:
      endpoint: 0.0.0.0:{{ .Values.ports.admin.containerPort }}
  pipelines:
{{- range $signal := list "traces" "metrics" "logs" }}
    {{ $signal }}:
      receivers: [otlp]
      processors: [memory_limiter, resource/k8s{{ if not $persistent }}, batch{{ end }}]
      exporters: [otlp/backend]
{{- end }}
{{- end }}
{{- end -}}
