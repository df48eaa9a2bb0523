{{/* Labels on every object. */}}
{{- define "repotune.labels" -}}
app.kubernetes.io/part-of: repotune
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* An image of repotune's: (list . "pipeline"). */}}
{{- define "repotune.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/repotune-%s:%s" $root.Values.image.registry (index . 1) ($root.Values.image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}

{{/* The S3 Secret: yours (existingSecret) or the chart's. Its name is also KServe's ServiceAccount's. */}}
{{- define "repotune.s3Secret" -}}
{{- .Values.s3.existingSecret | default "repotune-s3" -}}
{{- end -}}

{{- define "repotune.s3Endpoint" -}}
{{- if .Values.s3.endpoint -}}
{{- .Values.s3.endpoint -}}
{{- else if .Values.minio.enabled -}}
{{- printf "minio.%s.svc.cluster.local:9000" .Release.Namespace -}}
{{- else -}}
{{- fail "s3.endpoint is required when minio.enabled is false" -}}
{{- end -}}
{{- end -}}

{{/* The LLM Secret's name, or empty when there is none. */}}
{{- define "repotune.llmSecret" -}}
{{- if .Values.llm.existingSecret -}}{{ .Values.llm.existingSecret }}{{- else if .Values.llm.apiKey -}}repotune-llm{{- end -}}
{{- end -}}

{{/* The run config the submit hook sends: the values' runConfig with the store filled from s3.*. */}}
{{- define "repotune.runConfig" -}}
{{- $store := dict "url" (printf "s3://%s" .Values.s3.bucket) "endpoint" (include "repotune.s3Endpoint" .) "secure" .Values.s3.useHttps -}}
{{- $config := deepCopy .Values.submit.runConfig -}}
{{- if not (hasKey $config "store") -}}{{- $_ := set $config "store" $store -}}{{- end -}}
{{- /* the RayJob and the InferenceService go to the release's namespace unless the run config says otherwise */ -}}
{{- $here := dict "namespace" .Release.Namespace -}}
{{- $_ := set $config "deploy" (merge (get $config "deploy" | default dict) $here) -}}
{{- $train := get $config "train" | default dict -}}
{{- $_ = set $train "rayjob" (merge (get $train "rayjob" | default dict) (deepCopy $here)) -}}
{{- $_ = set $config "train" $train -}}
{{- toYaml $config -}}
{{- end -}}
