"""Archon on Kubernetes: load and validate the stack config, build the components, export outputs."""

import pulumi

from components.namespace_baseline import NamespaceBaseline
from stackconfig import ConfigError, load_stack_config

try:
    cfg = load_stack_config(pulumi.get_stack())
except ConfigError as error:
    # RunError stops the program with the message alone, before any resource is registered.
    raise pulumi.RunError(str(error)) from None

baseline = NamespaceBaseline(
    "archon",
    namespace=cfg.namespace,
    environment=cfg.environment,
    quota=cfg.quota,
    limit_range=cfg.limit_range,
    protect=cfg.protect_stateful_resources,
)

pulumi.export("environment", cfg.environment)
pulumi.export("namespace", baseline.namespace_name)
pulumi.export("domain", cfg.domain)
