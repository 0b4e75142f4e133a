"""Monitoring configuration as data: the Prometheus and Alertmanager configs the Monitoring component renders."""
