{{/* Labels of one component: the same as the kustomize base uses. */}}
{{- define "bank.selector" -}}
app.kubernetes.io/name: bank
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bank.labels" -}}
{{ include "bank.selector" . }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* registry/name:tag, or registry/name@digest when a digest is pinned. */}}
{{- define "bank.image" -}}
{{- $img := .root.Values.image -}}
{{- $digest := get $img.digests .name -}}
{{- if $digest -}}
{{ printf "%s/%s@%s" $img.registry .name $digest }}
{{- else -}}
{{ printf "%s/%s:%s" $img.registry .name (default .root.Chart.AppVersion $img.tag) }}
{{- end -}}
{{- end -}}

{{- define "bank.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "bank.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}
