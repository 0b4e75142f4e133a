"""The monitoring stack's ports, each defined once: the containers, Services, scrape configs and the traffic graph
read them from here."""

PROMETHEUS = 9090
ALERTMANAGER = 9093
GRAFANA = 3000
KUBE_STATE_METRICS = 8080
KUBE_STATE_METRICS_TELEMETRY = 8081
LOKI = 3100
ALLOY = 12345
TRAEFIK_METRICS = 9100  # the Traefik chart's metrics entry point
CERT_MANAGER_METRICS = 9402  # the cert-manager chart's metrics port
KUBELET = 10250  # each node's kubelet, its metrics and cAdvisor's
KUBERNETES_API = (443, 6443)  # the API server: its Service port and its usual listen port on the nodes
SMTP_AND_WEBHOOKS = (587, 465, 25, 443)  # where Alertmanager delivers: mail submission, SMTPS, SMTP, HTTPS
