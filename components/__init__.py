"""Archon's ComponentResources and the secure workload builder they share."""
