"""Secrets that come from outside the stack (set with `pulumi config set --secret`)."""

from __future__ import annotations

# Config key -> what it is. Declared in Pulumi.yaml only when every stack needs it (see README).
EXTERNAL_SECRETS = {
    "openaiApiKey": "OpenAI API key for embeddings and agents",
    "supabaseServiceKey": "Supabase service_role key (databases.provider: supabase)",
    "registryPassword": "password or token for the image registry",
    "slackWebhookUrl": "Slack incoming-webhook URL for alerts",
    "pagerdutyRoutingKey": "PagerDuty Events v2 routing key for alerts",
    "alertSmtpPassword": "SMTP password for email alerts (monitoring.receivers.email.username)",
    "oidcClientSecret": "the OIDC client secret oauth2-proxy signs users in with (ingress.auth.mode: oidc)",
    "backupS3AccessKeyId": "access key id for the backup bucket (databases.backup.s3)",
    "backupS3SecretAccessKey": "secret access key for the backup bucket (databases.backup.s3)",
}
