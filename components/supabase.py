"""SupabaseConnection: the managed alternative to the bundled PostgreSQL, handed to the app as a Secret."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import workload as w
from components.component import Component
from components.labels import recommended_labels


class SupabaseConnection(Component):
    """A Secret with SUPABASE_URL and SUPABASE_SERVICE_KEY for the services that talk to Supabase."""

    secret_name: pulumi.Output[str]

    def __init__(self, name: str, *, url: str, service_key: pulumi.Input[str], namespace: pulumi.Input[str],
                 instance: str, protect: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:SupabaseConnection", name, opts)
        self.secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="archon-supabase", namespace=namespace,
                labels=recommended_labels("supabase", "database", instance, "managed")),
            type="Opaque",
            string_data={"SUPABASE_URL": url, "SUPABASE_SERVICE_KEY": service_key},
            opts=self.fixed_name(protect=protect))
        self.secret_name = self.secret.metadata.name
        self.checksum = w.digest({"SUPABASE_URL": url, "SUPABASE_SERVICE_KEY": service_key})
        self.register_outputs({"secretName": self.secret_name})
