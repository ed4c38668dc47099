{{- define "chart.fullname" -}}{{ .Release.Name }}{{- end }}
{{- define "chart.labels" -}}app.kubernetes.io/name: {{ .Chart.Name }}{{- end }}
