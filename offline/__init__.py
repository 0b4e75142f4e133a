"""The offline engine: plan the stack with the Pulumi SDK's mocks, no CLI, cluster or Docker needed."""
