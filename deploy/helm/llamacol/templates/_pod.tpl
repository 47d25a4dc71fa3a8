{{/* The pod template every workload kind uses. */}}
{{- define "llamacol.podTemplate" -}}
{{- $agent := eq .Values.mode "daemonset" -}}
metadata:
  labels:
    {{- include "llamacol.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A config change rolls the pods.
    checksum/config: {{ include "llamacol.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "llamacol.serviceAccountName" . }}
  # The API token only where k8s_attributes watches pods.
  automountServiceAccountToken: {{ if include "llamacol.watchesPods" . }}true{{ else }}false{{ end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and $agent .Values.gpu.runtimeClassName }}
  runtimeClassName: {{ .Values.gpu.runtimeClassName }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: llamacol
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run", "--config", "/etc/llamacol/config.yaml"]
      securityContext:
        {{- if include "llamacol.podAttribution" . }}
        {{- /* Only root may connect to the kubelet's socket; nothing else is granted. */}}
        {{- toYaml (omit .Values.securityContext "runAsUser" "runAsGroup" "runAsNonRoot") | nindent 8 }}
        runAsUser: 0
        runAsGroup: 0
        runAsNonRoot: false
        {{- else }}
        {{- toYaml .Values.securityContext | nindent 8 }}
        {{- end }}
      ports:
        {{- range $name, $port := .Values.ports }}
        {{- if include "llamacol.portServed" (list $ $name $port) }}
        - name: {{ $name }}
          containerPort: {{ $port.containerPort }}
          protocol: {{ $port.protocol | default "TCP" }}
          {{- if and $agent $port.hostPort }}
          hostPort: {{ $port.hostPort }}
          {{- end }}
        {{- end }}
        {{- end }}
      env:
        - name: K8S_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: K8S_NODE_IP
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
        - name: K8S_POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: K8S_POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        {{- with .Values.admin.auth.existingSecret }}
        - name: LLAMACOL_ADMIN_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $.Values.admin.auth.key }}
        {{- end }}
        - name: K8S_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: LLAMACOL_IDENTITY_SALT
          valueFrom:
            secretKeyRef:
              name: {{ include "llamacol.identitySaltSecret" . }}
              key: {{ .Values.genai.identitySalt.key }}
        {{- if $agent }}
        # NVML through the NVIDIA container runtime, without requesting a GPU.
        - name: NVIDIA_VISIBLE_DEVICES
          value: {{ .Values.gpu.visibleDevices | quote }}
        - name: NVIDIA_DRIVER_CAPABILITIES
          value: {{ .Values.gpu.driverCapabilities | quote }}
        {{- end }}
        {{- with .Values.extraEnvs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: admin
        initialDelaySeconds: 5
        periodSeconds: 10
      readinessProbe:
        httpGet:
          path: /readyz
          port: admin
        periodSeconds: 5
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/llamacol
          readOnly: true
        {{- if .Values.persistentQueue.enabled }}
        - name: queue
          mountPath: /var/lib/llamacol
        {{- end }}
        {{- if include "llamacol.podAttribution" . }}
        - name: pod-resources
          mountPath: /var/lib/kubelet/pod-resources
          readOnly: true
        - name: host-proc
          mountPath: /host/proc
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "llamacol.fullname" . }}
    {{- if and .Values.persistentQueue.enabled $agent }}
    - name: queue
      hostPath:
        path: {{ printf "%s/%s" (trimSuffix "/" .Values.persistentQueue.hostPath) .Release.Name }}
        type: DirectoryOrCreate
    {{- end }}
    {{- if include "llamacol.podAttribution" . }}
    # The kubelet's pod-resources socket and the node's processes (nvml.podAttribution).
    - name: pod-resources
      hostPath:
        path: /var/lib/kubelet/pod-resources
        type: Directory
    - name: host-proc
      hostPath:
        path: /proc
        type: Directory
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $nodeSelector := .Values.nodeSelector }}
  {{- $tolerations := .Values.tolerations }}
  {{- if $agent }}
  {{- $nodeSelector = merge (deepCopy .Values.nodeSelector) .Values.gpu.nodeSelector }}
  {{- $tolerations = concat .Values.gpu.tolerations .Values.tolerations }}
  {{- end }}
  {{- with $nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
