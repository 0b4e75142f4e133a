"""The real-engine harness: the Pulumi CLI and provider built from Go modules, a local control plane, stand-ins."""
