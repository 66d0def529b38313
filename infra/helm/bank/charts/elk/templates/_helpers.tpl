{{- define "elk.url" -}}
{{- default (printf "https://elasticsearch.%s.svc:9200" .Release.Namespace) .Values.elasticsearch.externalUrl -}}
{{- end -}}
{{- define "elk.labels" -}}
app.kubernetes.io/name: bank-elk
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}
{{- define "elk.selector" -}}
app.kubernetes.io/name: bank-elk
app.kubernetes.io/component: {{ .component }}
{{- end -}}
